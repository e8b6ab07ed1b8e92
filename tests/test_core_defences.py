"""Issue 22's defences, one class at a time: immutable stores, tokenising in bounded memory, memory estimated
before it is spent, bounded user lists, finite numerics."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, open_app_page, synthetic_text

from core import trainer as train_module
from core.bench import stream as bench_stream
from core.cli import main as cli_main
from core.config import ConfigError, TrainConfig
from core.data import checks, store
from core.data.checks import check_corpus
from core.data.corpora import read_text_file
from core.data.prepared import Prepared
from core.data.vocab import Vocab
from core.device import available_memory
from core.explore.evaluate import ANALOGIES, _data, full_report, odd_one_out
from core.explore.projection import MAX_FOCUS_WORDS, Settings, map_rows, word_map
from core.explore.vectors import MAX_NEIGHBOURS, Embeddings, parse_words, watch_words
from core.job import train_run
from core.runs import Run
from core.runs.records import MAX_LIST_WORDS, MAX_WORD_CHARS, WordListError
from core.trainer import Trainer, TrainingError

CPU = torch.device("cpu")


# --- 1. a store never changes once built -------------------------------------------------------------------


def _edit(path: Path, how: str) -> None:
    """Edit the file as a user would: add new words (it grows), or reverse each line (same size, same words)."""
    before = path.stat()
    text = path.read_text(encoding="utf-8")
    if how == "grows":
        path.write_text(text + "brand new words appear here\n" * 50, encoding="utf-8")
    else:
        path.write_text("".join(" ".join(line.split()[::-1]) + "\n" for line in text.splitlines()), encoding="utf-8")
        assert path.stat().st_size == before.st_size
    later = before.st_mtime_ns + 1_000_000_000  # a clock of coarse granularity cannot hide the edit
    os.utime(path, ns=(later, later))


def _segments(data: Prepared) -> list[np.ndarray]:
    return [s.ids.numpy().copy() for s in data.segments()]


@pytest.mark.parametrize("how", ["grows", "same size"])
def test_a_run_keeps_reading_its_own_store_when_the_file_is_edited(tmp_path: Path, how: str) -> None:
    path = tmp_path / "c.txt"
    path.write_text(synthetic_text(300, seed=1), encoding="utf-8")
    first = store.open_or_build(path, False)
    running = Prepared.from_store(first, 1, CPU)
    before = _segments(running)
    _edit(path, how)
    second = store.open_or_build(path, False)  # a second run on the edited file
    assert second.path != first.path
    expected = Vocab.build(read_text_file(path), 1)
    assert second.vocab(1)[0].idx_to_token == expected.idx_to_token
    after = _segments(running)  # the first run's next epoch
    assert len(after) == len(before) and all(np.array_equal(a, b) for a, b in zip(after, before, strict=True))
    assert first.path.is_dir(), "a store a run holds open is never cleaned"


def test_stores_of_earlier_versions_are_removed_once_no_run_holds_them(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_text(synthetic_text(100, seed=1), encoding="utf-8")
    held = store.open_or_build(path, False)
    _edit(path, "grows")
    released = store.open_or_build(path, False).path
    gc.collect()  # nothing holds the second version open now
    _edit(path, "same size")
    third = store.open_or_build(path, False)
    assert held.path.is_dir() and not released.exists() and third.path.is_dir()


# --- 2. tokenising is bounded in memory whatever the line lengths ------------------------------------------

MIXED = "Ünïcode wörds ☃ snow\r\nshort\n\n  spaced\tout  words \x0cform feed\u2028next line 日本語 テキスト\nend"


@pytest.mark.parametrize("read_bytes", [1, 3, 7, 64, 1 << 20])
def test_blocks_of_any_size_give_the_in_memory_encoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_bytes: int
) -> None:
    """A word or a UTF-8 sequence cut by a block boundary is joined; sentences end where lines end."""
    monkeypatch.setattr(store, "READ_BYTES", read_bytes)
    path = tmp_path / "mixed.txt"
    path.write_text("\ufeff" + (MIXED + "\n") * 3 + synthetic_text(20), encoding="utf-8")
    sentences = read_text_file(path)
    expected = Vocab.build(sentences, 1)
    ids, offsets = expected.encode(sentences)
    built = store.build_store(path, tmp_path / "store", lowercase=False)
    vocab, lookup = built.vocab(1)
    assert vocab.idx_to_token == expected.idx_to_token
    np.testing.assert_array_equal(lookup[built.read(0, built.n_tokens)], ids)
    np.testing.assert_array_equal(built.offsets(), offsets)


@pytest.mark.parametrize(("words", "read_bytes"), [(23, 5), (10, 64), (7, 1 << 20)])
def test_a_long_line_is_cut_into_sentences_of_a_bounded_length(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, words: int, read_bytes: int
) -> None:
    monkeypatch.setattr(store, "MAX_SENTENCE_TOKENS", 4)
    monkeypatch.setattr(store, "READ_BYTES", read_bytes)
    path = tmp_path / "long.txt"
    path.write_text(" ".join(f"w{i % 3}" for i in range(words)) + "\nshort line\n", encoding="utf-8")
    built = store.build_store(path, tmp_path / "store", lowercase=False)
    lengths = np.diff(built.offsets()).tolist()
    assert lengths == [4] * (words // 4) + ([words % 4] if words % 4 else []) + [2]


BUILD_AND_REPORT_PEAK = """
import json, re, sys
from pathlib import Path
from core.data import store
def peak_kb():
    return int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))
text = Path(sys.argv[1])
before = peak_kb()
built = store.build_store(text, text.with_suffix(".store"), lowercase=False)
print(json.dumps([built.n_tokens, peak_kb() - before]))
"""


def _tokenising_peak_kb(text: Path) -> tuple[int, int]:
    command = [sys.executable, "-c", BUILD_AND_REPORT_PEAK, str(text)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    n_tokens, peak_kb = json.loads(done.stdout.splitlines()[-1])
    return n_tokens, peak_kb


def test_one_line_tokenises_in_the_memory_of_many_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same 20 MB of words, one sentence per line and all on one line: the same small peak (today's
    store reads a line whole, so a one-line corpus needs memory in proportion to the file)."""
    monkeypatch.setattr(bench_stream, "VOCAB_SIZE", 5_000)
    lines = tmp_path / "lines.txt"
    bench_stream.write_zipf_text(lines, 3_500_000, seed=0)
    one_line = tmp_path / "one.txt"
    one_line.write_bytes(lines.read_bytes().replace(b"\n", b" "))
    assert lines.stat().st_size > 20e6
    (n_lines, peak_lines), (n_one, peak_one) = _tokenising_peak_kb(lines), _tokenising_peak_kb(one_line)
    print(f"tokenising peak above the imports: {peak_lines} kB on many lines, {peak_one} kB on one line")
    assert n_lines == n_one == 3_500_000
    assert peak_one < 2 * peak_lines + 16 * 1024, f"one line: {peak_one} kB, many lines: {peak_lines} kB"
    assert peak_one < 96 * 1024, f"tokenising 20 MB on one line took {peak_one} kB above the imports"


# --- 3. memory is estimated before it is spent -------------------------------------------------------------


def _table_bytes(corpus: Path, cfg: TrainConfig) -> int:
    return len(Vocab.build(read_text_file(corpus), cfg.min_freq)) * cfg.embed_size * 4


@pytest.mark.parametrize("mode", ["fast", "book"])
def test_a_model_larger_than_free_memory_is_refused_before_a_run(
    tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """Free memory for the fast mode's two tables is too little for the book mode's eight (Adam, gradients)."""
    cfg = TrainConfig(corpus=str(tiny_corpus), mode=mode, min_freq=2, embed_size=64, threads=1)
    table = _table_bytes(tiny_corpus, cfg)
    monkeypatch.setattr(checks, "available_memory", lambda device: 3 * table)
    if mode == "fast":
        assert check_corpus(cfg) is not None
    else:
        with pytest.raises(ConfigError, match=r"embed_size: .*, or train in the fast mode"):
            check_corpus(cfg)
    monkeypatch.setattr(checks, "available_memory", lambda device: table)
    with pytest.raises(ConfigError, match=f"{mode} mode.* lower embed_size or raise min_freq") as refused:
        check_corpus(cfg)
    assert "\n" not in str(refused.value) and refused.value.field == "embed_size"


@pytest.mark.parametrize("mode", ["fast", "book"])
def test_a_run_that_skipped_the_check_fails_with_the_one_line_message(
    tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    monkeypatch.setattr(checks, "available_memory", lambda device: 1000)
    assert cli_main(["train", "--corpus", str(tiny_corpus), "--mode", mode, "--min-freq", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: embed_size: ") and "lower embed_size" in err and "\n" not in err
    run = Run.create(TrainConfig(corpus=str(tiny_corpus), mode=mode, min_freq=2, threads=1))
    with pytest.raises(ConfigError):
        train_run(run)
    assert run.status().state == "failed" and "lower embed_size or raise min_freq" in run.status().message


@pytest.mark.parametrize(
    "failure",
    [
        RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried"),
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 4.58 GiB"),
    ],
)
@pytest.mark.parametrize("mode", ["fast", "book"])
def test_a_failed_allocation_of_the_tables_is_the_same_one_line_message(
    tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch, failure: RuntimeError, mode: str
) -> None:
    def refuse(*args: object) -> None:
        raise failure

    monkeypatch.setattr(train_module, "SkipGram", refuse)
    cfg = TrainConfig(corpus=str(tiny_corpus), mode=mode, min_freq=2, threads=1)
    with pytest.raises(TrainingError, match="lower embed_size or raise min_freq") as failed:
        Trainer(cfg, Prepared.build(read_text_file(tiny_corpus), 2, CPU))
    assert "\n" not in str(failed.value)


def test_other_runtime_errors_at_table_creation_are_not_called_memory(
    tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("something else")

    monkeypatch.setattr(train_module, "SkipGram", broken)
    cfg = TrainConfig(corpus=str(tiny_corpus), min_freq=2, threads=1)
    with pytest.raises(RuntimeError, match="something else"):
        Trainer(cfg, Prepared.build(read_text_file(tiny_corpus), 2, CPU))


def test_free_memory_is_read_on_this_machine() -> None:
    free = available_memory(CPU)
    assert free is None or free > 0


# --- 4. user lists are bounded, with a message --------------------------------------------------------------

TOO_MANY = [", ".join(f"w{i}" for i in range(MAX_LIST_WORDS + 1)), " ".join(f"x{i}" for i in range(500))]
TOO_LONG = ["a " + "b" * (MAX_WORD_CHARS + 1), "z" * 100_000]


@pytest.mark.parametrize("text", TOO_MANY + TOO_LONG)
def test_typed_word_lists_are_bounded_with_a_message(text: str) -> None:
    with pytest.raises(WordListError, match=f"at most ({MAX_LIST_WORDS}|{MAX_WORD_CHARS})"):
        parse_words(text)


def test_a_list_at_its_bounds_is_taken() -> None:
    text = " ".join(f"w{i % (MAX_LIST_WORDS - 1)}" for i in range(3 * MAX_LIST_WORDS)) + ", " + "y" * MAX_WORD_CHARS
    assert len(parse_words(text)) == MAX_LIST_WORDS


@pytest.mark.parametrize("text", TOO_MANY + TOO_LONG)
def test_watch_words_are_bounded_where_they_are_written_and_ranked(text: str) -> None:
    words = text.replace(",", " ").split()
    run = Run.create(TrainConfig())
    with pytest.raises(WordListError):
        run.set_watch_words(words)
    with pytest.raises(WordListError):
        watch_words(Embeddings(WORDS, CENTER), words)
    (run.path / "watch.json").write_text(json.dumps({"words": words}))  # written by hand or an older app
    read, _ = run.watch_words()
    assert len(read) <= MAX_LIST_WORDS and all(len(w) <= MAX_WORD_CHARS for w in read)


@pytest.mark.parametrize("text", TOO_MANY + TOO_LONG)
def test_odd_one_out_words_are_bounded(text: str) -> None:
    with pytest.raises(WordListError):
        odd_one_out(Embeddings(WORDS, CENTER), ["king", "queen", "man", *text.replace(",", " ").split()])


@pytest.mark.parametrize("k", [MAX_NEIGHBOURS + 1, 10**9])
def test_neighbour_counts_are_bounded(k: int, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match=f"at most {MAX_NEIGHBOURS}"):
        Embeddings(WORDS, CENTER).neighbors("king", k)
    with pytest.raises(SystemExit):
        cli_main(["neighbors", "some-run", "king", "-k", str(k)])
    assert f"at most {MAX_NEIGHBOURS}" in capsys.readouterr().err


@pytest.mark.parametrize("focus", [MAX_FOCUS_WORDS + 1, 5000])
def test_map_word_lists_are_bounded(focus: int) -> None:
    words = ["<unk>", *(f"w{i}" for i in range(focus))]
    emb = Embeddings(words, np.random.default_rng(0).normal(size=(len(words), 4)).astype(np.float32))
    with pytest.raises(WordListError):
        map_rows(emb, Settings(n_words=10, focus=tuple(words[1:])))


@pytest.mark.parametrize("count", [MAX_LIST_WORDS + 1, 60])
def test_the_train_page_says_when_the_watch_words_are_too_many(count: int) -> None:
    at = open_app_page("pages/train.py")
    at.text_input(key="watch_words").set_value(", ".join(f"w{i}" for i in range(count))).run()
    assert not at.exception
    assert any(f"at most {MAX_LIST_WORDS} watch words, not {count}" in w.value for w in at.warning)


# --- 5. numerics stay finite --------------------------------------------------------------------------------

WORDS = ["<unk>", "king", "queen", "man", "woman", "apple"]
CENTER = np.array([[9, 9, 9], [1, 1, 0], [1, 1, 1], [1, 0, 0], [1, 0, 1], [0, 0, -1]], dtype=np.float32)


def _padded(scale: float) -> Embeddings:
    """The words above with two zero rows (GloVe and fastText pad their files so) and `tiny`, a row of norm
    about `scale` pointing like `king`."""
    words = [*WORDS[:3], "pad0", "tiny", "pad1", *WORDS[3:]]
    rows = [*CENTER[:3], np.zeros(3), CENTER[1] * scale, np.zeros(3), *CENTER[3:]]
    return Embeddings(words, np.asarray(rows, dtype=np.float32))


@pytest.mark.parametrize("scale", [1e-30, 1e-20, 1e-8])
def test_neighbours_analogies_and_similarity_with_zero_and_tiny_rows(scale: float) -> None:
    emb = _padded(scale)
    for word in ("king", "pad0", "tiny", "apple"):
        found = emb.neighbors(word, 10)
        assert all(np.isfinite(s) for _, s in found)
    assert emb.neighbors("king", 1) == [("tiny", pytest.approx(1.0))]  # a tiny row keeps its direction
    assert [w for w, _ in emb.neighbors("tiny", 3)] == ["king", "queen", "man"]
    assert emb.similarity("pad0", "king") == 0.0 and emb.similarity("tiny", "queen") == pytest.approx(2 / np.sqrt(6))
    assert emb.analogy("man", "king", "woman", k=1)[0][0] == "queen"
    for question in (("pad0", "king", "woman"), ("pad0", "pad1", "tiny"), ("man", "pad0", "pad1")):
        assert all(np.isfinite(s) for _, s in emb.analogy(*question, k=5))
    assert odd_one_out(emb, ["king", "queen", "pad0"]) == "pad0"
    assert np.isfinite(emb.unit()).all()


def _capital_vectors(padded: bool, scale: float = 1e-30) -> Embeddings:
    """Capitals and their countries from the Google analogies' first section: country = capital + one offset."""
    with open(_data(ANALOGIES), encoding="utf-8") as fh:
        lines = [line.split() for line in fh.read().split(": ")[1].splitlines()[1:]]
    pairs = dict.fromkeys((a.lower(), b.lower()) for a, b, _, _ in lines)
    rng = np.random.default_rng(0)
    offset = rng.normal(size=32)
    words = ["<unk>", *(w for pair in pairs for w in pair)]
    rows = [rng.normal(size=32)]
    for _ in pairs:
        capital = rng.normal(size=32)
        rows += [capital, capital + offset]
    if padded:
        words[1:1] = ["pad0", "tiny", "pad1"]
        rows[1:1] = [np.zeros(32), scale * rng.normal(size=32), np.zeros(32)]
    return Embeddings(words, np.asarray(rows, dtype=np.float32))


@pytest.mark.parametrize("scale", [1e-30, 1e-12])
def test_evaluation_with_zero_and_tiny_rows_equals_it_without(scale: float) -> None:
    """3CosAdd and 3CosMul answer as without the padding: a NaN never wins an argmax."""
    clean = full_report(_capital_vectors(False)).analogy_total
    padded = full_report(_capital_vectors(True, scale)).analogy_total
    assert clean.correct_add > 10 and clean.correct_mul > 10
    assert (padded.correct_add, padded.correct_mul) == (clean.correct_add, clean.correct_mul)


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_maps_leave_zero_rows_off_and_stay_finite(method: str) -> None:
    emb = _capital_vectors(True)
    for settings in (Settings(method=method, n_words=40), Settings(method=method, focus=("pad0", "tiny", "athens"))):
        frame = word_map(emb, settings)
        assert {"pad0", "pad1"}.isdisjoint(frame["word"]) and "tiny" in set(frame["word"])
        assert np.isfinite(frame[["x", "y"]].to_numpy()).all()
