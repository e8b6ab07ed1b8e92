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
from conftest import ROOT, synthetic_text

from core.bench import stream as bench_stream
from core.data import store
from core.data.corpora import read_text_file
from core.data.prepared import Prepared
from core.data.vocab import Vocab

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
