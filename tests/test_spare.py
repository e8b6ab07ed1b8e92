"""The launcher's spare process: a run started from the app is trained by a process that imported torch beforehand."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from conftest import wait_for

from core.config import TrainConfig
from core.runs.launcher import Launcher
from core.runs.spare import SPARE_ENV

LEE = TrainConfig(corpus="lee", min_freq=5, epochs=2)


def ended(pid: int) -> bool:
    """The process is gone, or a zombie its parent has not reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.fixture
def with_spare(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SPARE_ENV, "1")


def test_the_spare_trains_the_next_run_and_a_new_one_waits_after_it(launcher: Launcher, with_spare: None) -> None:
    launcher.keep_spare()
    spare = launcher.spare_pid
    assert spare is not None
    run = launcher.start(LEE, name="warm")
    assert launcher.wait(run, timeout=120)
    status = run.status()
    assert status.state == "finished" and status.pid == spare, "the spare process trained the run"
    assert "mean loss" in run.log_path().read_text(), "its output went to the run's log"
    wait_for(lambda: launcher.spare_pid not in (None, spare))  # nothing trains: the next one is ready


def test_no_spare_is_started_while_a_run_trains(launcher: Launcher, with_spare: None) -> None:
    run = launcher.start(LEE.replace(epochs=1000), name="long")
    wait_for(run.is_training)
    launcher.keep_spare()
    time.sleep(1.0)
    assert launcher.spare_pid is None, "its imports would take a core from the training"
    launcher.stop(run)
    assert launcher.wait(run, timeout=60)
    wait_for(lambda: launcher.spare_pid is not None)


def test_a_spare_started_in_another_environment_is_not_used(
    launcher: Launcher, with_spare: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    launcher.keep_spare()
    stale = launcher.spare_pid
    monkeypatch.setenv("NUMBA_NUM_THREADS", "1")  # read when numba is imported: the spare has it wrong
    run = launcher.start(LEE, name="cold")
    assert launcher.wait(run, timeout=120)
    assert run.status().state == "finished" and run.status().pid != stale
    wait_for(lambda: ended(stale))


def closed_spare() -> int:
    """The process id of the spare process of a launcher that was closed just after starting it."""
    made = Launcher()
    made.keep_spare()
    spare = made.spare_pid
    assert spare is not None
    made.close()
    return spare


def test_closing_the_launcher_ends_its_spare(with_spare: None) -> None:
    spare = closed_spare()
    wait_for(lambda: ended(spare))


def test_no_spare_when_the_environment_says_so(launcher: Launcher, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SPARE_ENV, "0")
    launcher.keep_spare()
    assert launcher.spare_pid is None


def test_a_corpus_checked_ahead_is_not_read_again_at_start(
    launcher: Launcher, tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.runs.launcher as launcher_module

    reads = []
    real = launcher_module.check_corpus
    monkeypatch.setattr(
        launcher_module, "check_corpus", lambda cfg, data_dir: reads.append(cfg.corpus) or real(cfg, data_dir)
    )
    cfg = TrainConfig(corpus=str(tiny_corpus), min_freq=2, epochs=1)
    launcher.check_ahead(cfg)
    run = launcher.start(cfg, name="checked")
    assert reads == [str(tiny_corpus)], "Start used the check made ahead"
    assert launcher.wait(run, timeout=120)

    launcher.check_ahead(cfg)  # the same settings and file: nothing to read
    tiny_corpus.write_text("one\n", encoding="utf-8")  # the file changed after its check
    with pytest.raises(Exception, match=r"vocabulary|words|sentence"):
        launcher.start(cfg, name="changed")
    assert reads == [str(tiny_corpus)] * 2


def test_a_spare_that_dies_by_itself_is_not_started_again(launcher: Launcher, with_spare: None) -> None:
    launcher.keep_spare()
    first = launcher.spare_pid
    assert first is not None
    os.kill(first, signal.SIGKILL)  # as if it could not import what training needs
    wait_for(lambda: ended(first))
    time.sleep(1.0)  # a few turns of the queue's pump
    launcher.keep_spare()  # the next page the user opens asks again
    time.sleep(1.0)
    assert launcher.spare_pid is None, "no loop of spares that die at once"
    run = launcher.start(LEE, name="cold-after")
    assert launcher.wait(run, timeout=120) and run.status().state == "finished"


def test_a_spare_whose_input_closes_ends_at_once_without_finishing_its_imports(with_spare: None) -> None:
    """A spare left importing after its launcher closed (the server quit) would take a core for seconds."""
    _, status, usage = os.wait4(closed_spare(), 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert usage.ru_utime + usage.ru_stime < 0.5, "it went on importing torch and numba (seconds of CPU)"
