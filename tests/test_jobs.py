"""The background job registry: start, stop, resume, failures, live watch words."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.config import TrainConfig
from core.jobs import JobRegistry, parse_words
from core.runs import Run, RunError

LEE = TrainConfig(corpus="lee", min_freq=5, epochs=3)


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


def test_failed_run_keeps_its_message(tmp_path: Path) -> None:
    registry = JobRegistry()
    run = registry.start(TrainConfig(corpus=str(tmp_path / "missing.txt")), name="broken")
    assert registry.wait(run, timeout=30)
    job = registry.get(run)
    assert job is not None and "no such file" in job.error
    status = run.status()
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
