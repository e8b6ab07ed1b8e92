"""The launcher: every run trains in its own process; the queue, stop, resume and delete work from the runs folder."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from conftest import settle, wait_for

from core.config import TrainConfig
from core.data.corpora import CorpusError
from core.explore.vectors import parse_words
from core.runs import Run, RunError
from core.runs.launcher import Launcher

LEE = TrainConfig(corpus="lee", min_freq=5, epochs=3)
LONG = LEE.replace(epochs=1000)  # trains until stopped


def test_start_trains_in_its_own_process_to_completion(launcher: Launcher) -> None:
    run = launcher.start(LEE, name="bg")
    wait_for(lambda: launcher.is_live(run))
    assert launcher.wait(run, timeout=90)
    status = run.status()
    assert status.state == "finished" and status.epochs_done == 3
    assert status.pid not in (os.getpid(), -1), "the training ran in a process of its own"
    assert run.has_vectors() and any(m.kind == "step" for m in run.metrics())


def test_stop_then_resume_finishes_the_run(launcher: Launcher) -> None:
    run = launcher.start(LEE.replace(epochs=60), name="stoppable")
    wait_for(lambda: len(run.metrics()) >= 1)
    assert launcher.stop(run)
    assert launcher.wait(run, timeout=60)
    stopped = run.status()
    assert stopped.state == "stopped" and stopped.epochs_done < 60

    launcher.resume(run)
    assert launcher.wait(run, timeout=90)
    assert run.status().state == "finished" and run.status().epochs_done == 60
    assert not launcher.stop(run)  # nothing left to stop


def test_missing_corpus_is_refused_before_a_run_exists(launcher: Launcher, tmp_path: Path, isolated_runs: Path) -> None:
    with pytest.raises(CorpusError, match="no such file"):
        launcher.start(TrainConfig(corpus=str(tmp_path / "missing.txt")), name="broken")
    assert not isolated_runs.exists()


def test_corpus_that_vanishes_while_queued_fails_with_its_message(launcher: Launcher, tiny_corpus: Path) -> None:
    first = launcher.start(LONG, name="first")
    later = launcher.start(TrainConfig(corpus=str(tiny_corpus), min_freq=2, epochs=1), name="later")
    assert launcher.is_queued(later)
    tiny_corpus.unlink()
    launcher.stop(first)
    wait_for(lambda: later.status().state == "failed", timeout=90)
    assert "no such file" in later.status().message


def test_a_run_has_one_trainer_at_a_time(launcher: Launcher) -> None:
    run = launcher.start(LONG, name="busy")
    wait_for(run.is_training)
    with pytest.raises(RunError, match="busy is being trained"):
        launcher.resume(run)
    with pytest.raises(RunError, match="busy is being trained"), run.lock():
        pass  # this process cannot take the lock either
    assert [r.name for r in launcher.live_runs()] == ["busy"]


def test_finished_run_cannot_resume(launcher: Launcher, lee_run: Run) -> None:
    with pytest.raises(RunError, match="finished"):
        launcher.resume(Run.open(lee_run.name))


def test_the_training_process_writes_the_watch_words_neighbours(launcher: Launcher) -> None:
    run = launcher.start(LEE.replace(epochs=60), name="watched", watch=["police", "polise"])
    reader = run.metrics_reader()
    wait_for(lambda: reader.poll() >= 0 and reader.watch is not None)
    known, unknown = reader.watch.results
    assert known.word == "police" and len(known.neighbors) == 5 and not known.suggestions
    assert all(-1.0 <= score <= 1.0 for _, score in known.neighbors)
    assert unknown.neighbors == [] and "police" in unknown.suggestions

    run.set_watch_words(["court"])  # a page changes the words: the process follows
    wait_for(lambda: reader.poll() >= 0 and [r.word for r in reader.watch.results] == ["court"])


def test_parse_words_splits_on_commas_and_spaces() -> None:
    assert parse_words("chip, bank  monday,chip,") == ["chip", "bank", "monday"]


def training_span(run: Run) -> tuple[float, float]:
    times = [m.time for m in run.metrics()]
    return min(times), max(times)


def test_two_starts_at_once_both_finish_the_second_after_the_first(launcher: Launcher) -> None:
    barrier = threading.Barrier(2)
    runs: list[Run] = []

    def start(name: str) -> None:
        barrier.wait()
        runs.append(launcher.start(LEE.replace(epochs=10), name=name))

    threads = [threading.Thread(target=start, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(runs) == 2
    waiting = [run.name for run in launcher.queued_runs()]
    assert len(waiting) == 1 and Run.open(waiting[0]).status().state == "queued"
    for run in runs:
        assert launcher.wait(run, timeout=120)
        assert run.status().state == "finished"
    first, second = sorted((training_span(run) for run in runs), key=lambda span: span[0])
    assert second[0] >= first[1], "the queued run trained only after the first ended"


def test_max_jobs_from_the_environment_trains_in_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("W2V_MAX_JOBS", "2")
    launcher = Launcher()
    try:
        for name in ("left", "right"):
            launcher.start(LONG, name=name)
        assert launcher.max_jobs == 2 and not launcher.queued_runs()
        assert {run.name for run in launcher.live_runs()} == {"left", "right"}
    finally:
        settle(launcher)


@pytest.mark.parametrize("value", ["0", "-1", "two", ""])
def test_max_jobs_must_be_a_positive_whole_number(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("W2V_MAX_JOBS", value)
    with pytest.raises(ValueError, match="W2V_MAX_JOBS"):
        Launcher()


def test_a_queued_run_can_be_cancelled_and_resumed_later(launcher: Launcher) -> None:
    first = launcher.start(LONG, name="first")
    waiting = launcher.start(LEE, name="waiting")
    third = launcher.start(LEE, name="third")
    assert [run.name for run in launcher.queued_runs()] == ["waiting", "third"]
    assert launcher.position(third) == 2 and launcher.position(first) is None
    assert waiting.status().state == "queued" and launcher.is_queued(waiting)

    assert launcher.cancel(waiting) and not launcher.cancel(waiting)
    assert waiting.status().state == "stopped" and "cancelled" in waiting.status().message
    assert launcher.wait(waiting, timeout=0) and launcher.position(third) == 1
    launcher.stop(first)
    wait_for(lambda: third.status().state == "finished", timeout=120)
    assert waiting.metrics() == []  # it never trained

    launcher.resume(waiting)
    wait_for(lambda: waiting.status().state == "finished", timeout=120)


def test_delete_is_refused_while_training_or_queued(launcher: Launcher) -> None:
    first = launcher.start(LONG, name="first")
    queued = launcher.start(LEE, name="queued")
    with pytest.raises(RunError, match="first is training"):
        launcher.delete(first)
    with pytest.raises(RunError, match="queued is waiting in the queue"):
        launcher.delete(queued)
    launcher.cancel(queued)
    launcher.stop(first)
    assert launcher.wait(first, timeout=60)
    launcher.delete(first)
    launcher.delete(queued)
    assert not first.path.exists() and not queued.path.exists()
    with pytest.raises(RunError, match="no run named 'first'"):
        Run.open("first")
    with pytest.raises(RunError, match="no longer exists"):
        launcher.delete(first)


def test_delete_is_refused_while_another_process_holds_the_run(launcher: Launcher) -> None:
    run = Run.create(LEE, name="elsewhere")
    with run.lock():  # as a command-line training would
        with pytest.raises(RunError, match="training"):
            launcher.delete(run)
        assert run.status().state == "running"
    launcher.delete(run)
    assert not run.path.exists()


def test_running_with_a_live_unrelated_pid_reads_as_interrupted_and_can_resume_and_delete(
    launcher: Launcher,
) -> None:
    run = Run.create(LEE, name="stale")
    run.set_status("running", "training")  # written by this test's own, very much alive, process
    assert run.saved_status().pid == os.getpid()
    status = run.status()
    assert status.state == "interrupted" and "ended unexpectedly" in status.message
    assert not launcher.is_live(run)
    launcher.resume(run)
    assert launcher.wait(run, timeout=90) and run.status().state == "finished"
    stale = Run.create(LEE, name="stale-too")
    stale.set_status("running", "training")
    launcher.delete(stale)
    assert not stale.path.exists()


def test_a_queued_status_without_a_place_in_the_queue_reads_as_interrupted() -> None:
    run = Run.create(LEE, name="orphan")
    run.set_status("queued", "waiting")
    status = run.status()
    assert status.state == "interrupted" and "left the queue" in status.message


def test_the_queue_survives_a_restart_and_starts_when_the_slot_frees() -> None:
    before = Launcher()
    first = before.start(LONG, name="first")
    second = before.start(LEE.replace(epochs=2), name="second")
    wait_for(first.is_training)
    before.close()  # the server stops; the training process goes on

    after = Launcher()  # a new server over the same runs folder
    try:
        assert [run.name for run in after.queued_runs()] == ["second"]
        assert second.status().state == "queued" and [run.name for run in after.live_runs()] == ["first"]
        assert after.stop(first)
        wait_for(lambda: second.status().state == "finished", timeout=120)
        assert first.status().state == "stopped"
    finally:
        settle(after)


def test_a_queue_entry_that_cannot_be_read_is_dropped(isolated_runs: Path) -> None:
    from core.runs import queue

    queue.push(isolated_runs, "ghost", 1)
    (queue.folder(isolated_runs) / "0-bad.json").write_text("{not json", encoding="utf-8")
    assert [entry.run for entry in queue.entries(isolated_runs)] == ["ghost"]
    assert json.loads(next(queue.folder(isolated_runs).glob("*-ghost.json")).read_text())["processes"] == 1
