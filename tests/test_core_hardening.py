"""The second hardening battery, core and command line: every writer, file, argument and disk failure attacked
in turn. Each attack asserts a one-line message (no traceback), the other runs unaffected, and nothing the user
kept changed (checksums of every file under the runs folder before and after)."""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import synthetic_text

from core import files
from core.cli import main
from core.config import TrainConfig
from core.data import store
from core.data.checks import check_corpus
from core.data.corpora import CorpusError, read_text_file
from core.data.sampling import epoch_generator
from core.data.vocab import Vocab, VocabError
from core.explore.evaluate import EvaluationError, full_report, load_evaluation, save_evaluation
from core.explore.vector_files import VectorFileError, read_vectors
from core.explore.vectors import Embeddings
from core.job import train_run
from core.runs import Run, RunError, list_runs, runs_root, sanitize_name
from pages.parts.common import runs_table

WORD = "cat1"


# --- a finished run and its twin, copied from one trained per module --------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-epoch run on a small synthetic corpus, evaluated, in a folder of its own."""
    folder = tmp_path_factory.mktemp("template")
    corpus = folder / "corpus.txt"
    corpus.write_text(synthetic_text(), encoding="utf-8")
    cfg = TrainConfig(corpus=str(corpus), min_freq=2, epochs=2, embed_size=12, threads=1)
    run = Run.create(cfg, "good", root=folder / "runs")
    train_run(run)
    save_evaluation(run, full_report(Embeddings.from_run(run), source=run.name))
    return run.path


@pytest.fixture
def runs(template: Path, isolated_runs: Path) -> tuple[Run, Run]:
    """Two finished runs under this test's runs folder: `good` (the one attacked) and `other`."""
    for name in ("good", "other"):
        shutil.copytree(template, isolated_runs / name)
    return Run.open("good"), Run.open("other")


def checksums(root: Path | None = None) -> dict[str, str]:
    """SHA-256 of every file under `root` (the runs folder by default), links included as links; the queue's
    lock file, which any page may create, is the runs folder's bookkeeping, not something the user keeps."""
    root = root or runs_root()
    sums = {}
    for path in sorted(root.rglob("*")):
        if path.relative_to(root).parts[0] == "queue":
            continue
        if path.is_symlink():
            sums[str(path.relative_to(root))] = "link:" + os.readlink(path)
        elif path.is_file():
            sums[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return sums


def refused(argv: list[str], capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    """Run the command line, expect exit code 2 and a one-line `error: ...` holding every fragment."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def other_run_works(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["neighbors", "other", WORD, "-k", "2"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


# --- 1. nothing the user asks for writes over what they keep ------------------------------------------------


@pytest.mark.parametrize("extra", [["--limit", "5"], ["--table", "context"], ["--table", "sum", "--limit", "3"]])
def test_a_lesser_evaluation_never_replaces_the_saved_report(
    runs: tuple[Run, Run], extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    good, _ = runs
    before = checksums()
    assert main(["evaluate", "good", *extra]) == 0
    after = checksums()
    assert {k: v for k, v in after.items() if k in before} == before  # the full center report is untouched
    assert set(after) - set(before) <= {"good/evaluation-context.json"}  # another table keeps its own
    assert load_evaluation(good).words == len(good.vocab()) - 1


def test_save_evaluation_refuses_a_report_of_fewer_words(runs: tuple[Run, Run]) -> None:
    good, _ = runs
    emb = Embeddings.from_run(good)
    few = Embeddings(emb.words[:5], emb.center[:5], emb.context[:5])
    before = checksums()
    with pytest.raises(EvaluationError, match="fuller result"):
        save_evaluation(good, full_report(few))
    assert checksums() == before


def change_corpus(run: Run) -> None:
    with open(run.config().corpus, "a", encoding="utf-8") as fh:
        fh.write("brand new words here\n" * 30)


def delete_corpus(run: Run) -> None:
    Path(run.config().corpus).unlink()


@pytest.mark.parametrize("state", ["finished", "stopped"])
@pytest.mark.parametrize("damage", [change_corpus, delete_corpus])
def test_a_failed_resume_leaves_the_run_as_it_was(
    runs: tuple[Run, Run], tmp_path: Path, state: str, damage: Callable[[Run], None], capsys: pytest.CaptureFixture
) -> None:
    good, _ = runs
    corpus = tmp_path / "own.txt"  # the runs share the template's corpus: this one gets its own copy
    shutil.copy(good.config().corpus, corpus)
    config = json.loads((good.path / "config.json").read_text())
    (good.path / "config.json").write_text(json.dumps({**config, "corpus": str(corpus)}))
    if state == "stopped":
        good.set_status("stopped", "stopped by the user", epochs_done=2)
    damage(good)
    before = checksums()
    refused(["train", "--resume", "good", "--epochs", "4"], capsys)
    assert checksums() == before  # still finished (or stopped) with its figures; epochs still 2
    assert good.status().state == state and good.config().epochs == 2
    other_run_works(capsys)


@pytest.mark.parametrize(
    "target",
    ["good/vectors.txt", "good", "good/config.json", "uploads/v.txt", "imports/v.txt", "v.txt", "."],
)
@pytest.mark.parametrize("fmt", ["word2vec", "projector"])
def test_export_refuses_targets_inside_the_runs_folder(
    runs: tuple[Run, Run], target: str, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (runs_root() / "uploads").mkdir()
    before = checksums()
    refused(["export", "good", str(runs_root() / target), "--format", fmt], capsys, "inside the runs folder")
    assert checksums() == before
    other_run_works(capsys)


# --- 2. a damaged file damages only itself ---------------------------------------------------------------

BIG = 2**70
DAMAGES = {  # file -> content that damages it
    "config.json": ["[]", "null", "", '{"epochs": ', '{"epochs": "many"}', '{"from_the_future": 1}', '{"seed": 1e400}'],
    "status.json": [
        '{"state": "running", "pid": "abc"}',
        f'{{"state": "running", "pid": {BIG}}}',
        "[1]",
        '{"state": "exploded"}',
        '{"state": "finished", "train_seconds": "abc"}',
        f'{{"state": "finished", "vocab_size": {10**400}}}',
        '{"state": "fini',
    ],
    "evaluation.json": ['{"pairs": [{"name": "WordSim353"}], "analogies": []}', "{}", "[]", '{"pairs": 5}'],
    "vocab.json": ["LONGER", "SHORTER", "[]", '{"tokens": ["<unk>", "a"], "counts": ["x", 1]}', '{"tokens": 7}'],
    "vectors.safetensors": ["TRUNCATE", ""],
}
CASES = [(name, content) for name, contents in DAMAGES.items() for content in contents]


def damage(run: Run, name: str, content: str) -> None:
    path = run.path / name
    if content in ("LONGER", "SHORTER"):
        data = json.loads(path.read_text())
        if content == "LONGER":
            data = {"tokens": [*data["tokens"], "extra"], "counts": [*data["counts"], 1]}
        else:
            data = {"tokens": data["tokens"][:-3], "counts": data["counts"][:-3]}
        path.write_text(json.dumps(data))
    elif content == "TRUNCATE":
        path.write_bytes(path.read_bytes()[:-100])
    else:
        path.write_text(content)


@pytest.mark.parametrize("name, content", CASES, ids=[f"{n}={c[:20]!r}" for n, c in CASES])
def test_a_damaged_file_damages_only_its_run(
    runs: tuple[Run, Run], tmp_path: Path, name: str, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    good, _ = runs
    damage(good, name, content)
    before = checksums()
    for argv in (
        ["neighbors", "good", WORD],
        ["export", "good", str(tmp_path / "out.txt")],
        ["evaluate", "good", "--limit", "20"],
        ["train", "--resume", "good", "--epochs", "3"],
    ):
        code = main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert code in (0, 2) and (code == 0 or (len(err) >= 1 and err[-1].startswith("error: "))), (argv, err)
    table = runs_table(list_runs()).set_index("run")  # what Home shows: a row per run, the damaged one named
    assert table.loc["other", "state"] == "finished"
    if name in ("config.json", "status.json"):
        row = table.loc["good"]
        assert row["state"] == "damaged" and name in row["message"], row
    if name == "evaluation.json":
        assert table.loc["good", "WS353"] is None or np.isnan(table.loc["good", "WS353"])
    assert {k: v for k, v in checksums().items() if not k.startswith("good/")} == {
        k: v for k, v in before.items() if not k.startswith("good/")
    }
    other_run_works(capsys)


@pytest.mark.parametrize("line", ['{"kind": "step"}', "[1]", '{"kind": "epoch", "epoch": "x"}', "\x00\x00", "{"])
def test_a_damaged_metrics_line_is_skipped(runs: tuple[Run, Run], line: str) -> None:
    good, _ = runs
    rows = good.metrics()
    with open(good.path / "metrics.jsonl", "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    assert good.metrics() == rows


@pytest.mark.parametrize("what", ["vocab", "vectors"])
def test_vocabulary_and_vectors_of_different_lengths_are_named(runs: tuple[Run, Run], what: str, tmp_path: Path):
    good, _ = runs
    damage(good, "vocab.json", "LONGER" if what == "vocab" else "SHORTER")
    with pytest.raises(RunError, match=r"the vocabulary holds .* words but the center vectors have"):
        Embeddings.from_run(good)
    assert not (tmp_path / "out.txt").exists()


def test_a_symlinked_run_is_damaged_and_delete_removes_only_the_link(runs: tuple[Run, Run], tmp_path: Path) -> None:
    good, _ = runs
    elsewhere = tmp_path / "elsewhere"
    shutil.move(good.path, elsewhere)
    good.path.symlink_to(elsewhere, target_is_directory=True)
    kept = checksums(elsewhere)
    [linked] = [r for r in list_runs() if r.name == "good"]
    with pytest.raises(RunError, match="symbolic link"):
        linked.config()
    with pytest.raises(RunError, match="symbolic link"):
        Embeddings.from_run(linked)
    linked.delete()
    assert not good.path.exists() and checksums(elsewhere) == kept


@pytest.mark.parametrize("name", ["config.json", "status.json", "evaluation.json"])
def test_a_symlinked_file_is_not_followed(runs: tuple[Run, Run], name: str, tmp_path: Path) -> None:
    good, other = runs
    (good.path / name).unlink()
    (good.path / name).symlink_to(other.path / name)
    with pytest.raises(RunError, match="symbolic link"):
        {"config.json": good.config, "status.json": good.status}.get(name, lambda: load_evaluation(good))()


# --- 3. a file's claims about itself are checked ---------------------------------------------------------


def vectors_file(tmp_path: Path, lines: list[str], head: bytes = b"") -> Path:
    path = tmp_path / "v.txt"
    path.write_bytes(head + "\n".join(lines).encode() + b"\n")
    return path


def test_a_byte_order_mark_is_not_part_of_the_first_word(tmp_path: Path) -> None:
    for lines in (["2 2", "a 1 2", "b 3 4"], ["a 1 2", "b 3 4"]):
        emb = read_vectors(vectors_file(tmp_path, lines, b"\xef\xbb\xbf"))
        assert emb.words == ["a", "b"]


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "1e39", "NaN"])
@pytest.mark.parametrize("header", [True, False])
def test_non_finite_values_are_named_by_line(tmp_path: Path, bad: str, header: bool) -> None:
    lines = ["a 1 2", f"b 3 {bad}", "c 5 6"]
    path = vectors_file(tmp_path, ["3 2", *lines] if header else lines)
    with pytest.raises(VectorFileError, match=f"line {3 if header else 2} \\('b'\\): value .* not a finite number"):
        read_vectors(path)


def test_non_finite_values_in_a_binary_file_are_named_by_vector(tmp_path: Path) -> None:
    path = tmp_path / "v.bin"
    rows = np.array([[1, 2], [np.nan, 3]], dtype="<f4")
    path.write_bytes(b"2 2\n" + b"a " + rows[0].tobytes() + b"b " + rows[1].tobytes())
    with pytest.raises(VectorFileError, match="vector 2 \\('b'\\): value nan"):
        read_vectors(path)


@pytest.mark.parametrize("head", [b"3 1000000000\n", b"1000000000000 200000\n"])
def test_a_header_claiming_a_huge_dimension_is_refused_before_allocating(tmp_path: Path, head: bytes) -> None:
    path = tmp_path / "v.bin"
    path.write_bytes(head + b"a " + b"\0" * 64)
    with pytest.raises(VectorFileError, match=r"dimension .* more than 100,000"):
        read_vectors(path)


def test_a_glove_line_of_millions_of_values_is_refused(tmp_path: Path) -> None:
    path = vectors_file(tmp_path, ["a " + " ".join(["0"] * 1_000_000)])
    with pytest.raises(VectorFileError, match="first vector has dimension 1,000,000"):
        read_vectors(path)


def nul_corpus(tmp_path: Path, suffix: str = ".txt") -> Path:
    text = synthetic_text(sentences=2000).encode()  # about 100 KB: the NUL lies past the first 64 KB
    lines = text.splitlines(keepends=True)
    lines[1500] = lines[1500].replace(b" ", b" \x00", 1)
    path = tmp_path / f"nul{suffix}"
    data = b"".join(lines)
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
    return path


@pytest.mark.parametrize("suffix", [".txt", ".txt.gz"])
def test_a_nul_byte_anywhere_is_named_by_line(tmp_path: Path, suffix: str) -> None:
    path = nul_corpus(tmp_path, suffix)
    with pytest.raises(CorpusError, match="line 1,501: a NUL byte"):
        read_text_file(path)
    with pytest.raises(CorpusError, match="line 1,501: a NUL byte"):
        store.build_store(path, tmp_path / "store", False)
    assert not list_runs()


def test_evaluate_on_a_damaged_vectors_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = vectors_file(tmp_path, ["2 2", "a 1 2", "b nan 4"])
    refused(["evaluate", str(path)], capsys, "line 3", "not a finite number")


# --- 4. edges of every setting and argument ----------------------------------------------------------------


@pytest.mark.parametrize("seed", [2**63 - 1, 18446688733644, 2**62])
def test_every_documented_seed_trains(tiny_corpus: Path, seed: int, capsys: pytest.CaptureFixture) -> None:
    argv = ["train", "--corpus", str(tiny_corpus), "--min-freq", "2", "--epochs", "1", "--embed-size", "8"]
    assert main([*argv, "--seed", str(seed), "--threads", "1"]) == 0
    epoch_generator(seed + 3 * 2**32, 999, torch.device("cpu"))  # a rank's stream at the maximum, too


def test_small_seeds_draw_what_they_drew_before() -> None:
    gen = epoch_generator(7, 2, torch.device("cpu"))
    old = torch.Generator().manual_seed(7 * 1_000_003 + 2)
    assert torch.equal(torch.rand(5, generator=gen), torch.rand(5, generator=old))


@pytest.mark.parametrize("k", ["0", "-1", "-100", "x"])
def test_neighbors_k_must_be_positive(runs: tuple[Run, Run], k: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["neighbors", "good", WORD, "-k", k])
    assert exit_info.value.code == 2 and "-k" in capsys.readouterr().err
    with pytest.raises(ValueError, match="at least 1"):
        Embeddings.from_run(runs[0]).neighbors(WORD, 0)


@pytest.mark.parametrize(
    "text", ["alpha\nbeta\n" * 20, "alpha\n" * 20 + "beta\n" * 20 + "gamma delta\n", "x\ny\n" * 50 + "x\n"]
)
def test_a_corpus_without_a_training_pair_is_refused_before_a_run(
    tmp_path: Path, text: str, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "pairless.txt"
    path.write_text(text)
    argv = ["train", "--corpus", str(path), "--min-freq", "2", "--negatives", "1", "--window", "1"]
    refused(argv, capsys, "no training pair")
    assert not list_runs()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--epochs", "1"], "must be at least 2"),
        (["--epochs", "2"], "has finished its 2 epochs"),
        (["--lowercase"], "--lowercase cannot be given with --resume"),
        (["--name", "x"], "--name cannot be given with --resume"),
        (["--embed-size", "20"], "embed_size cannot change on resume"),
    ],
)
def test_resume_refuses_what_it_would_ignore_or_undo(
    runs: tuple[Run, Run], extra: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    before = checksums()
    refused(["train", "--resume", "good", *extra], capsys, message)
    assert checksums() == before


@pytest.mark.parametrize(
    "kind, fmt, message",
    [
        ("folder", "word2vec", "is a folder"),
        ("folder", "word2vec-binary", "is a folder"),
        ("binary", "word2vec", "holds word2vec-binary, not word2vec"),
        ("text", "word2vec-binary", "holds word2vec, not word2vec-binary"),
        ("essay", "word2vec", "holds not a vectors file"),
        ("glove", "word2vec", "holds glove"),
        ("text", "projector", "is a file"),
        ("projector-essay", "projector", "not a vectors file, not projector vectors"),
    ],
)
def test_export_refuses_to_replace_something_else(
    runs: tuple[Run, Run], tmp_path: Path, kind: str, fmt: str, message: str, capsys: pytest.CaptureFixture
) -> None:
    target = tmp_path / "target"
    if kind in ("folder", "projector-essay"):
        target.mkdir()
        (target / "notes.txt").write_text("mine")
        if kind == "projector-essay":
            (target / "vectors.tsv").write_text("my own table\n")
    else:
        assert (
            main(["export", "other", str(target), "--format", "word2vec-binary" if kind == "binary" else "word2vec"])
            == 0
        )
        if kind == "essay":
            target.write_text("Dear diary,\n")
        if kind == "glove":
            target.write_text("a 1 2\nb 3 4\n")
    kept = checksums(tmp_path)
    refused(["export", "good", str(target), "--format", fmt], capsys, message)
    assert checksums(tmp_path) == kept


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "projector"])
def test_export_again_onto_an_export_of_the_same_format_is_allowed(runs, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / "again"
    assert main(["export", "other", str(target), "--format", fmt]) == 0
    assert main(["export", "good", str(target), "--format", fmt]) == 0


# --- 5. the disk says no -------------------------------------------------------------------------------------


def refuse_writes(monkeypatch: pytest.MonkeyPatch, code: int, after: int = 0) -> None:
    """Every atomic write past the first `after` fails with `code` (EROFS: read-only, ENOSPC: disk full)."""
    real = files.os.replace
    calls = {"n": 0}

    def replace(src: object, dest: object) -> None:
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(code, os.strerror(code), str(dest))
        real(src, dest)

    monkeypatch.setattr(files.os, "replace", replace)


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC, errno.EACCES])
@pytest.mark.parametrize("command", ["train", "evaluate", "export"])
def test_a_refused_write_is_one_line_and_keeps_what_was_saved(
    runs: tuple[Run, Run], tiny_corpus: Path, tmp_path: Path, code: int, command: str, capsys
) -> None:
    before = checksums()
    argv = {
        "train": ["train", "--corpus", str(tiny_corpus), "--min-freq", "2", "--epochs", "1"],
        "evaluate": ["evaluate", "good"],
        "export": ["export", "good", str(tmp_path / "out.txt")],
    }[command]
    with pytest.MonkeyPatch.context() as patch:
        refuse_writes(patch, code)
        refused(argv, capsys, os.strerror(code), "files saved before are kept")
    assert {k: v for k, v in checksums().items() if k in before} == before
    other_run_works(capsys)


def test_a_full_disk_mid_training_keeps_the_last_checkpoint(
    runs: tuple[Run, Run], capsys: pytest.CaptureFixture
) -> None:
    good, _ = runs
    good.set_status("stopped", "stopped by the user")
    checkpoint = (good.path / "checkpoint.safetensors").read_bytes()
    with pytest.MonkeyPatch.context() as patch:
        refuse_writes(patch, errno.ENOSPC, after=3)  # config and two statuses are written, then the disk is full
        refused(["train", "--resume", "good", "--epochs", "4"], capsys, "No space left on device")
    assert (good.path / "checkpoint.safetensors").read_bytes() == checkpoint
    assert good.epochs_done() == 2 and not [p for p in good.path.iterdir() if p.name.endswith(".tmp")]


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stale_temporaries_are_removed_at_the_next_start(runs: tuple[Run, Run]) -> None:
    good, _ = runs
    good.set_status("stopped", "stopped by the user")
    stale = [good.path / f".checkpoint.safetensors.{dead_pid()}.0123abcd.tmp", good.path / ".tmpAbC123"]
    live = good.path / f".status.json.{os.getpid()}.0123abcd.tmp"
    for path in [*stale, live]:
        path.write_bytes(b"x" * 1000)
    os.utime(stale[1], (1, 1))
    train_run(good, resume=True)
    assert not any(p.exists() for p in stale) and live.exists()


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_files_follow_the_umask(tiny_corpus: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        run = Run.create(TrainConfig(corpus=str(tiny_corpus), min_freq=2, epochs=1, embed_size=8, threads=1))
        train_run(run)
        save_evaluation(run, full_report(Embeddings.from_run(run)))
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in run.path.iterdir()}
    assert set(modes.values()) == {0o666 & ~mask}, modes


def test_a_deleted_store_is_built_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.txt"
    path.write_text(synthetic_text())
    first = store.open_or_build(path, False)
    (first.path / store.VOCAB).unlink()
    again = store.open_or_build(path, False)
    assert again.tokens == first.tokens and (again.path / store.VOCAB).is_file()


def test_a_store_is_never_built_inside_the_runs_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("W2V_CACHE_DIR", str(runs_root() / "cache"))
    path = tmp_path / "c.txt"
    path.write_text(synthetic_text())
    with pytest.raises(CorpusError, match="inside the runs folder"):
        store.open_or_build(path, False)
    assert not runs_root().exists() or not list(runs_root().rglob("*.int32"))


# --- 6. memory is bounded by what is read --------------------------------------------------------------------


def test_a_small_gz_of_much_text_goes_through_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "STORE_THRESHOLD_BYTES", 200_000)
    text = synthetic_text(sentences=8000).encode()  # about 400 KB of text, about 40 KB compressed
    path = tmp_path / "big.txt.gz"
    raw = bytearray(gzip.compress(text))
    raw[-4:] = (10).to_bytes(4, "little")  # the trailer claims 10 bytes of text: not believed
    path.write_bytes(bytes(raw))
    assert path.stat().st_size < store.STORE_THRESHOLD_BYTES < len(text)
    assert store.wants_store(str(path))
    assert check_corpus(TrainConfig(corpus=str(path), min_freq=2)) is None  # left to the store, not read


def test_two_builds_of_one_store_at_once_both_succeed(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_text(synthetic_text(sentences=3000))
    results, errors = [], []

    def build() -> None:
        try:
            results.append(store.open_or_build(path, False))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 3
    assert all(r.tokens == results[0].tokens and r.n_tokens == results[0].n_tokens for r in results)
    assert not [p for p in results[0].path.iterdir() if p.name.endswith(".tmp")]


# --- 8. retention -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, kept", [("spacé ü", "spacé-ü"), ("日本語 run", "日本語-run"), ("../ünï/x", "ünï-x")])
def test_run_names_keep_letters_of_any_script(name: str, kept: str) -> None:
    assert sanitize_name(name) == kept
    run = Run.create(TrainConfig(), name)
    assert run.path.parent == runs_root() and run.name == kept


def test_vocab_damage_is_a_vocab_error(tmp_path: Path) -> None:
    path = tmp_path / "vocab.json"
    for content in ("", "[]", '{"tokens": ["<unk>", 3], "counts": [1, 1]}', '{"tokens": ["<unk>"], "counts": [1e999]}'):
        path.write_text(content)
        with pytest.raises(VocabError):
            Vocab.load(path)
