"""The background job registry: start, stop, resume, failures, live watch words."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from core.config import TrainConfig
from core.data import CorpusError
from core.jobs import JobRegistry, parse_words
from core.runs import Run, RunError

LEE = TrainConfig(corpus="lee", min_freq=5, epochs=3)
LONG = LEE.replace(epochs=1000)  # trains until stopped


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def test_start_trains_in_background_to_completion() -> None:
    registry = JobRegistry()
    run = registry.start(LEE, name="bg")
    assert registry.wait(run, timeout=60)
    job = registry.get(run)
    assert job is not None and job.error is None and not registry.is_live(run)
    status = run.status()
    assert status["state"] == "finished" and status["epochs_done"] == 3
    assert run.has_vectors()
    assert any(m["kind"] == "step" for m in run.metrics())


def test_stop_then_resume_finishes_the_run() -> None:
    registry = JobRegistry()
    run = registry.start(LEE.replace(epochs=60), name="stoppable")
    wait_for(lambda: len(run.metrics()) >= 1)
    assert registry.stop(run)
    assert registry.wait(run, timeout=30)
    stopped = run.status()
    assert stopped["state"] == "stopped"
    assert stopped["epochs_done"] < 60

    registry.resume(run)
    assert registry.wait(run, timeout=60)
    assert run.status()["state"] == "finished"
    assert run.status()["epochs_done"] == 60
    assert not registry.stop(run)  # nothing left to stop


def test_missing_corpus_is_refused_before_a_run_exists(tmp_path: Path, isolated_runs: Path) -> None:
    with pytest.raises(CorpusError, match="no such file"):
        JobRegistry().start(TrainConfig(corpus=str(tmp_path / "missing.txt")), name="broken")
    assert not isolated_runs.exists()


def test_corpus_that_vanishes_while_queued_fails_with_its_message(tiny_corpus: Path) -> None:
    registry = JobRegistry(max_jobs=1)
    first = registry.start(LONG, name="first")
    later = registry.start(TrainConfig(corpus=str(tiny_corpus), min_freq=2, epochs=1), name="later")
    tiny_corpus.unlink()
    registry.stop(first)
    assert registry.wait(later, timeout=30)
    job = registry.get(later)
    assert job is not None and "no such file" in job.error
    status = later.status()
    assert status["state"] == "failed" and "no such file" in status["message"]


def test_a_run_trains_in_one_thread_at_a_time() -> None:
    registry = JobRegistry()
    run = registry.start(LEE.replace(epochs=60), name="busy")
    try:
        with pytest.raises(RunError, match="already training"):
            registry.resume(run)
        assert registry.live_runs()[0].name == run.name
    finally:
        registry.stop(run)
        registry.wait(run, timeout=30)


def test_finished_run_cannot_resume() -> None:
    registry = JobRegistry()
    run = registry.start(LEE, name="done")
    registry.wait(run, timeout=60)
    with pytest.raises(RunError, match="finished"):
        registry.resume(Run.open(run.path))


def test_watch_reads_the_live_vectors() -> None:
    registry = JobRegistry()
    run = registry.start(LEE.replace(epochs=60), name="watched")
    try:
        wait_for(lambda: len(run.metrics()) >= 1)  # the trainer is attached before its first step
        known, unknown = registry.watch(run, ["police", "polise"], k=5)
    finally:
        registry.stop(run)
        registry.wait(run, timeout=30)
    assert known.word == "police" and len(known.neighbors) == 5 and not known.suggestions
    assert all(-1.0 <= score <= 1.0 for _, score in known.neighbors)
    assert unknown.neighbors == [] and "police" in unknown.suggestions


def test_watch_before_any_job_is_none() -> None:
    run = Run.create(LEE, name="idle")
    assert JobRegistry().watch(run, ["police"]) is None


def test_parse_words_splits_on_commas_and_spaces() -> None:
    assert parse_words("chip, bank  monday,chip,") == ["chip", "bank", "monday"]


def training_span(run: Run) -> tuple[float, float]:
    times = [m["time"] for m in run.metrics()]
    return min(times), max(times)


def test_two_starts_at_once_both_finish_the_second_after_the_first() -> None:
    registry = JobRegistry(max_jobs=1)
    barrier = threading.Barrier(2)
    runs: list[Run] = []

    def start(name: str) -> None:
        barrier.wait()
        runs.append(registry.start(LEE.replace(epochs=10), name=name))

    threads = [threading.Thread(target=start, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(runs) == 2
    assert sorted(run.status()["state"] for run in runs) == ["queued", "running"]
    waiting = [run.name for run in runs if run.status()["state"] == "queued"]
    assert [run.name for run in registry.queued_runs()] == waiting
    for run in runs:
        assert registry.wait(run, timeout=60)
        assert run.status()["state"] == "finished"
    first, second = sorted((training_span(run) for run in runs), key=lambda span: span[0])
    assert second[0] >= first[1], "the queued run trained only after the first ended"


def test_max_jobs_from_the_environment_trains_in_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("W2V_MAX_JOBS", "2")
    registry = JobRegistry()
    runs = [registry.start(LONG, name=name) for name in ("left", "right")]
    try:
        assert registry.max_jobs == 2 and not registry.queued_runs()
        assert {run.name for run in registry.live_runs()} == {"left", "right"}
    finally:
        for run in runs:
            registry.stop(run)
            registry.wait(run, timeout=30)


@pytest.mark.parametrize("value", ["0", "-1", "two", ""])
def test_max_jobs_must_be_a_positive_whole_number(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("W2V_MAX_JOBS", value)
    with pytest.raises(ValueError, match="W2V_MAX_JOBS"):
        JobRegistry()


def test_a_queued_run_can_be_cancelled_and_resumed_later() -> None:
    registry = JobRegistry(max_jobs=1)
    first = registry.start(LONG, name="first")
    waiting = registry.start(LEE, name="waiting")
    third = registry.start(LEE, name="third")
    assert [run.name for run in registry.queued_runs()] == ["waiting", "third"]
    assert registry.position(third) == 2 and registry.position(first) is None
    assert waiting.status()["state"] == "queued" and registry.is_queued(waiting)

    assert registry.cancel(waiting) and not registry.cancel(waiting)
    assert waiting.status()["state"] == "stopped" and "cancelled" in waiting.status()["message"]
    assert registry.wait(waiting, timeout=0) and registry.position(third) == 1
    registry.stop(first)
    assert registry.wait(third, timeout=60) and third.status()["state"] == "finished"
    assert waiting.metrics() == []  # it never trained

    registry.resume(waiting)
    assert registry.wait(waiting, timeout=60) and waiting.status()["state"] == "finished"


def test_delete_is_refused_while_training_or_queued() -> None:
    registry = JobRegistry(max_jobs=1)
    first = registry.start(LONG, name="first")
    queued = registry.start(LEE, name="queued")
    with pytest.raises(RunError, match="first is training"):
        registry.delete(first)
    with pytest.raises(RunError, match="queued is waiting in the queue"):
        registry.delete(queued)
    registry.cancel(queued)
    registry.stop(first)
    registry.wait(first, timeout=30)
    registry.delete(first)
    registry.delete(queued)
    assert not first.path.exists() and not queued.path.exists()
    with pytest.raises(RunError, match="no run at"):
        Run.open("first")
    with pytest.raises(RunError, match="no longer exists"):
        registry.delete(first)


def test_delete_is_refused_while_another_process_trains_the_run() -> None:
    run = Run.create(LEE, name="elsewhere")
    run.set_status("running", "training")  # this process's pid: alive
    with pytest.raises(RunError, match="training"):
        JobRegistry().delete(run)


def test_a_queued_run_of_a_process_that_is_gone_reads_as_interrupted() -> None:
    run = Run.create(LEE, name="orphan")
    run.set_status("queued", "waiting")
    record = {**run.status(), "pid": 2**22 + 12345}  # no such process
    (run.path / "status.json").write_text(json.dumps(record), encoding="utf-8")
    status = run.status()
    assert status["state"] == "interrupted" and "queued run" in status["message"]
