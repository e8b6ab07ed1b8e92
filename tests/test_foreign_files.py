"""Issue 22, class 1: a file read from a folder a user can write is opened as a plain file with a size bound.

A FIFO, a folder, a device or a link where a run's file, a queue entry or a vectors file belongs is
refused at once, damages only its own run, and never blocks the pump (which holds the queue's lock) or a
page. Each check runs in a thread with a deadline: on the code before this defence a FIFO blocked forever,
so the test fails instead of hanging; the finaliser opens both ends of every FIFO, which frees a thread
left waiting on one.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from core.config import TrainConfig
from core.data.vocab import Vocab, VocabError
from core.explore.vector_files import VectorFileError, read_vectors
from core.files import Damaged, read_text
from core.runs import Run, RunError, list_runs, queue, save_upload
from core.runs.launcher import Launcher
from pages.parts.live import PanelFeed, Readers

DEADLINE_S = 20.0  # what takes a few milliseconds here, with room for a loaded machine
RUN_FILES = ("config.json", "status.json", "watch.json", "train.lock", "metrics.jsonl", "vocab.json")
RUN_FILES += ("evaluation.json", "launch.log")
KINDS = ("fifo", "folder", "device link", "outside link")


@pytest.fixture
def fifos() -> Iterator[list[Path]]:
    """FIFOs a test made; afterwards each is opened at both ends, which frees any reader or writer blocked on it."""
    made: list[Path] = []
    yield made
    for path in made:
        release(path)


def release(path: Path) -> None:
    try:
        reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a writer blocked in open() goes on
    except OSError:
        return
    with suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # a reader blocked in open() or read() sees the end
    os.close(reader)


def plant(path: Path, kind: str, fifos: list[Path], outside: Path) -> None:
    """Put something other than a plain file of ours at `path`."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
        fifos.append(path)
    elif kind == "folder":
        path.mkdir()
        (path / "inside").write_text("x")
    elif kind == "device link":
        path.symlink_to("/dev/zero")
    else:
        path.symlink_to(outside)


def not_plain(path: Path, kind: str, fifos: list[Path], outside: Path) -> Path:
    """Where to read something other than a plain file: `path` planted with `kind`, or the device itself."""
    if kind == "device":
        return Path("/dev/zero")
    plant(path, kind, fifos, outside)
    return path


def within_deadline(action: Callable[[], Any]) -> Any:
    """`action()`'s result, computed in a thread that must end before the deadline; its exception is raised here."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = action()
        except BaseException as exc:  # handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(DEADLINE_S)
    assert not thread.is_alive(), "it waited on a file that is not a plain file (a FIFO?)"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def good_run(tmp_path: Path, name: str) -> Run:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c\n", encoding="utf-8")
    run = Run.create(TrainConfig.from_dict({"corpus": str(corpus), "epochs": 3}), name=name)
    run.set_watch_words(["a"])
    run.save_vocab(Vocab(["<unk>", "a", "b"], [0, 2, 1]))
    return run


def what_the_pages_read(run: Run) -> dict[str, Any]:
    """Everything Home, Train and the live feed read of a run; a damaged file may only say so (RunError)."""
    seen: dict[str, Any] = {}
    for name, read in (
        ("config", run.config),
        ("status", run.status),
        ("vocab", run.vocab),
        ("evaluation", run.evaluation_text),
        ("watch", run.watch_words),
        ("training", run.is_training),
        ("metrics", run.metrics),
        ("log", run.log_tail),
    ):
        try:
            seen[name] = read()
        except (RunError, VocabError) as exc:
            seen[name] = exc
    seen["polled"] = run.metrics_reader().poll()
    return seen


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", RUN_FILES)
def test_a_foreign_file_in_a_run_folder_damages_only_that_run(
    name: str, kind: str, tmp_path: Path, fifos: list[Path]
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text('{"words": ["secret"]}', encoding="utf-8")
    good, bad = good_run(tmp_path, "good"), good_run(tmp_path, "bad")
    plant(bad.path / name, kind, fifos, outside)
    seen = within_deadline(lambda: what_the_pages_read(bad))
    assert seen["polled"] == 0 and seen["metrics"] == []
    assert seen["watch"][0] != ["secret"]  # a link out of the run folder is not followed
    assert seen["training"] is False
    assert within_deadline(lambda: what_the_pages_read(good))["config"].epochs == 3
    assert outside.read_text(encoding="utf-8") == '{"words": ["secret"]}'
    expected = {"config.json": RunError, "status.json": RunError, "vocab.json": VocabError, "evaluation.json": Damaged}
    if name in expected:
        assert isinstance(seen[name.split(".")[0]], expected[name])
    assert {run.name for run in within_deadline(list_runs)} >= {"good"}


@pytest.mark.parametrize("kind", KINDS)
def test_a_lock_that_is_not_a_plain_file_is_refused_not_waited_on(kind: str, tmp_path: Path, fifos: list[Path]) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("kept", encoding="utf-8")
    run = good_run(tmp_path, "locked")
    plant(run.path / "train.lock", kind, fifos, outside)

    def take() -> None:
        with run.lock():
            pass

    with pytest.raises(RunError, match=r"damaged: train\.lock"):
        within_deadline(take)
    assert outside.read_text(encoding="utf-8") == "kept"  # no process id written through a link


@pytest.mark.parametrize("kind", ("fifo", "folder", "device"))
def test_the_tolerant_reader_refuses_what_is_not_a_plain_file(kind: str, tmp_path: Path, fifos: list[Path]) -> None:
    path = not_plain(tmp_path / "file.json", kind, fifos, tmp_path)
    text = within_deadline(lambda: read_text(path))
    assert isinstance(text, Damaged) and ("not a plain file" in text.reason or "larger than" in text.reason)


def test_queue_entries_that_are_not_plain_files_are_dropped_without_waiting(tmp_path: Path, fifos: list[Path]) -> None:
    runs = tmp_path / "runs"
    good_run(tmp_path, "waiting")
    queue.push(runs, "waiting", 1)
    where = queue.folder(runs)
    plant(where / "00000000000000000001-fifo.json", "fifo", fifos, tmp_path)
    plant(where / "00000000000000000002-folder.json", "folder", fifos, tmp_path)
    plant(where / "00000000000000000003-zero.json", "device link", fifos, tmp_path)
    (where / "00000000000000000004-huge.json").write_text(json.dumps({"run": "x" * 100_000}), encoding="utf-8")
    entries = within_deadline(lambda: queue.entries(runs))
    assert [entry.run for entry in entries] == ["waiting"]
    assert not (where / "00000000000000000001-fifo.json").exists()
    assert not (where / "00000000000000000003-zero.json").is_symlink()


@pytest.mark.parametrize("kind", ("fifo", "folder"))
def test_a_run_whose_log_is_not_a_plain_file_fails_alone_and_the_queue_goes_on(
    kind: str, tmp_path: Path, launcher: Launcher, fifos: list[Path]
) -> None:
    first, second = good_run(tmp_path, "first"), good_run(tmp_path, "second")
    plant(first.log_path(), kind, fifos, tmp_path)
    for run in (first, second):
        run.set_status("queued")  # before its entry: the launcher's own pump may take it at once
        queue.push(launcher.root, run.name, 1)
    within_deadline(launcher.pump)
    status = first.status()
    assert status.state == "failed" and "launch.log" in status.message
    assert second.log_path().is_file()  # launched: the damaged run ahead of it did not hold the queue up


@pytest.mark.parametrize("kind", ("fifo", "folder", "device"))
def test_a_vectors_file_that_is_not_a_plain_file_is_refused(kind: str, tmp_path: Path, fifos: list[Path]) -> None:
    path = not_plain(tmp_path / "vectors.txt", kind, fifos, tmp_path)
    with pytest.raises(VectorFileError):
        within_deadline(lambda: read_vectors(path, limit=10))


@pytest.mark.parametrize("kind", KINDS)
def test_the_metrics_reader_and_the_feed_treat_a_foreign_metrics_file_as_damaged(
    kind: str, tmp_path: Path, launcher: Launcher, fifos: list[Path]
) -> None:
    run = good_run(tmp_path, "odd")
    outside = tmp_path / "outside.jsonl"
    outside.write_text("", encoding="utf-8")
    plant(run.path / "metrics.jsonl", kind, fifos, outside)
    reader = run.metrics_reader()
    assert within_deadline(reader.poll) == 0 and reader.last is None and reader.problem
    reply = within_deadline(lambda: PanelFeed(launcher, Readers())("odd"))
    assert set(reply) == {"html", "phase", "ended"}
    assert stat.S_ISREG(os.stat(outside).st_mode)


@pytest.mark.parametrize("kind", ("fifo", "device link", "outside link"))
def test_an_upload_name_taken_by_something_else_gets_the_upload(kind: str, tmp_path: Path, fifos: list[Path]) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("kept", encoding="utf-8")
    data = b"the cat sat\n"
    first, _ = save_upload("corpus.txt", data)
    plant(first, kind, fifos, outside)
    path, fresh = within_deadline(lambda: save_upload("corpus.txt", data))
    assert fresh and path == first and not path.is_symlink() and path.read_bytes() == data
    assert outside.read_text(encoding="utf-8") == "kept"
