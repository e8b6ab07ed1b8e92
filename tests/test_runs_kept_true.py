"""Issue 22: nothing a user keeps is relabelled or served stale.

One test (or a parametrised family) per class of defect: queue changes as one step under the queue's
lock, queue entries checked like settings, one rule for a run's current vectors, absolute paths from
creation on, a command line whose printed paths work everywhere, names that never alias.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue as stdqueue
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, settle
from gensim.models import KeyedVectors

from core.cli import main
from core.config import TrainConfig
from core.explore.evaluate import full_report, load_evaluation, save_evaluation
from core.explore.vectors import Embeddings
from core.job import train_run
from core.runs import Run, RunError, queue, save_upload
from core.runs.launcher import Launcher

SMALL = {"min_freq": 2, "embed_size": 12, "threads": 1}


def small(corpus: Path | str, epochs: int = 1) -> TrainConfig:
    return TrainConfig(corpus=str(corpus), epochs=epochs, **SMALL)


def stopped_run(corpus: Path, name: str) -> Run:
    """A run stopped before its first epoch: Resume may queue it."""
    run = Run.create(small(corpus, 2), name)
    run.set_status("stopped", "stopped by the user")
    return run


# --- 1. state changes under the queue's lock ----------------------------------------------------------


def hold_first_answer(barrier) -> None:
    """In this process, each thread's first "is it queued" answer waits until another caller has asked too,
    as two Resume presses at the same moment would."""
    real, asked = Run.is_queued, threading.local()

    def is_queued(self: Run) -> bool:
        answer = real(self)
        if not getattr(asked, "done", False):
            asked.done = True
            barrier.wait()
        return answer

    Run.is_queued = is_queued


def resume_once(root: str, name: str, outcome) -> None:
    launcher = Launcher(root=root, max_jobs=1)
    try:
        launcher.resume(Run.open(name, root))
        outcome.put("queued")
    except RunError as exc:
        outcome.put(str(exc))
    finally:
        launcher.close()


def resume_in_a_process(root: str, name: str, barrier, outcome) -> None:
    hold_first_answer(barrier)
    resume_once(root, name, outcome)
    os._exit(0)


@pytest.mark.parametrize("how", ["threads", "processes"])
def test_two_resumes_at_the_same_moment_queue_the_run_once(
    how: str, tiny_corpus: Path, isolated_runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = stopped_run(tiny_corpus, "twice")
    blocker = Run.create(small(tiny_corpus), "blocker")
    args = (str(isolated_runs), run.name)
    with blocker.lock():  # the one training slot is taken: nothing launches while the test looks
        if how == "threads":
            monkeypatch.setattr(Run, "is_queued", Run.is_queued)  # put back afterwards
            hold_first_answer(threading.Barrier(2))
            outcome = stdqueue.SimpleQueue()
            callers = [threading.Thread(target=resume_once, args=(*args, outcome)) for _ in range(2)]
        else:
            context = multiprocessing.get_context("fork")
            barrier, outcome = context.Barrier(2), context.SimpleQueue()
            callers = [context.Process(target=resume_in_a_process, args=(*args, barrier, outcome)) for _ in range(2)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(120)
        answers = sorted(outcome.get() for _ in callers)
        assert [entry.run for entry in queue.entries(isolated_runs)] == ["twice"]
        assert answers == ["queued", "run twice is already waiting in the queue"]
        queue.remove(isolated_runs, run.name)


@pytest.mark.parametrize("processes", [1, 2])
def test_the_pump_drops_an_entry_of_a_finished_run_and_never_launches_it(
    processes: int, lee_run: Run, isolated_runs: Path, launcher: Launcher
) -> None:
    before = lee_run.saved_status()
    queue.push(isolated_runs, lee_run.name, processes)
    launcher.pump()
    assert not launcher.is_live(lee_run) and not lee_run.is_queued()
    assert lee_run.saved_status() == before and lee_run.has_vectors()


def _fake_training(script: str, started: list[subprocess.Popen]):
    """A launch that runs `script` (given the run folder as argv[1]) instead of a training."""

    def launch(self: Launcher, run: Run, processes: int) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        process = subprocess.Popen([sys.executable, "-c", script, str(run.path)], cwd=ROOT, env=env)
        started.append(process)
        return process

    return launch


WRITES_FINISHED_THEN_FAILS = """
import sys
from pathlib import Path
from core.runs import Run
Run(Path(sys.argv[1])).set_status("finished", "", epochs_done=2)
sys.exit(3)
"""
WRITES_NOTHING = "import sys; sys.exit(2)"


@pytest.mark.parametrize(
    ("script", "state"),
    [(WRITES_FINISHED_THEN_FAILS, "finished"), (WRITES_NOTHING, "stopped")],
    ids=["wrote-finished-exit-3", "wrote-nothing-exit-2"],
)
def test_the_status_comes_from_what_the_process_wrote_not_its_exit_code(
    script: str, state: str, tiny_corpus: Path, isolated_runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = stopped_run(tiny_corpus, "said")
    started: list[subprocess.Popen] = []
    monkeypatch.setattr(Launcher, "_launch", _fake_training(script, started))
    launcher = Launcher(root=isolated_runs)
    try:
        queue.push(isolated_runs, run.name, 1)  # an entry left by another server: this launcher never queued it
        launcher.pump()
        assert len(started) == 1
        started[0].wait(60)
        launcher.pump()
        assert run.saved_status().state == state
    finally:
        launcher.close()


# --- 2. queue entries are checked like settings ---------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        {"processes": 64},
        {"processes": 10**6},
        {"processes": "2"},
        {"processes": True},
        {"processes": 0},
        {"processes": 1.5},
        {"processes": None},
        {"run": "a?b"},
        {"run": "a b"},
        {"run": "../runs/a-b"},
        {"run": 5},
    ],
)
def test_an_invalid_queue_entry_is_dropped_never_launched(
    entry: dict, tiny_corpus: Path, isolated_runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = stopped_run(tiny_corpus, "a-b")
    started: list[subprocess.Popen] = []
    monkeypatch.setattr(Launcher, "_launch", _fake_training(WRITES_NOTHING, started))
    path = queue.folder(isolated_runs) / "00000000000000000001-a-b.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"run": "a-b", "processes": 1, **entry}))
    run.set_status("queued", "waiting")
    launcher = Launcher(root=isolated_runs)
    try:
        launcher.pump()
        assert started == [] and not path.exists()
    finally:
        launcher.close()
    if entry.get("processes", 1) in (64, 10**6):
        assert run.saved_status().state == "stopped" and "out of range" in run.saved_status().message
        assert "dropped, never launched" in run.log_path().read_text()


def test_unknown_keys_of_a_queue_entry_are_ignored(tiny_corpus: Path, isolated_runs: Path) -> None:
    stopped_run(tiny_corpus, "known")
    path = queue.folder(isolated_runs) / "00000000000000000001-known.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"run": "known", "processes": 1, "priority": "high", "argv": ["--rm"]}))
    assert [(e.run, e.processes) for e in queue.entries(isolated_runs)] == [("known", 1)]


# --- 3. the vectors a query reads are the run's latest -----------------------------------------------


@pytest.mark.parametrize("stop_after", [2, 3])
def test_after_a_resume_and_stop_every_reader_sees_the_latest_epoch(
    stop_after: int, tiny_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Run.create(small(tiny_corpus, 1), "again")
    train_run(run)
    assert run.has_vectors()
    save_evaluation(run, full_report(Embeddings.from_run(run)))
    old_center = Embeddings.from_run(run).center.copy()

    stop = threading.Event()

    def stop_at(row) -> None:
        if row.kind == "epoch" and row.epoch == stop_after:
            stop.set()

    train_run(run, [stop_at], stop, resume=True, changes={"epochs": 5})
    status = run.status()
    assert status.state == "stopped" and status.epochs_done == stop_after == run.epochs_done()
    latest = run.load_checkpoint()[0]["center"].numpy()
    assert not run.has_vectors() and not np.array_equal(latest, old_center)

    emb = Embeddings.from_run(run)
    np.testing.assert_array_equal(emb.center, latest)
    np.testing.assert_array_equal(Embeddings.from_run(Run.open(str(run.path))).center, latest)
    assert load_evaluation(run) is None, "the saved report scored vectors the run no longer has"
    target = tmp_path / "v.txt"
    assert main(["export", run.name, str(target)]) == 0
    np.testing.assert_array_equal(KeyedVectors.load_word2vec_format(str(target))["cat1"], latest[emb.lookup("cat1")])
    capsys.readouterr()
    assert main(["neighbors", run.name, "cat1", "-k", "1"]) == 0
    word, cosine = capsys.readouterr().out.split()
    nearest, similarity = emb.neighbors("cat1", 1)[0]
    assert word == nearest and float(cosine) == pytest.approx(similarity, abs=1e-4)


# --- 4. paths are absolute from creation on ---------------------------------------------------------------


@pytest.mark.parametrize("corpus", ["relative", "upload"])
def test_a_run_made_from_another_folder_trains_on_what_its_check_read(
    corpus: str, tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's working directory is not the project's: relative paths must not reach the training process."""
    elsewhere = tmp_path / "server-cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("W2V_RUNS_DIR", "my-runs")
    if corpus == "relative":
        (elsewhere / "text.txt").write_bytes(tiny_corpus.read_bytes())
        given = "text.txt"
    else:
        given = str(save_upload("text.txt", tiny_corpus.read_bytes())[0])
    launcher = Launcher()
    try:
        run = launcher.start(small(given, 1), name="here")
        assert launcher.wait(run, timeout=120)
        status = run.status()
        assert status.state == "finished", status.message
    finally:
        settle(launcher)
    saved = Path(run.config().corpus)
    assert saved.is_absolute() and saved.resolve() == (elsewhere / given).resolve()
    assert run.path.is_absolute() and run.path.parent.resolve() == (elsewhere / "my-runs").resolve()


def test_create_stores_absolute_paths(tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tiny_corpus.parent)
    for corpus, expected in (("tiny.txt", str(tiny_corpus)), ("./sub/../tiny.txt", str(tiny_corpus)), ("lee", "lee")):
        run = Run.create(small(corpus), root="rel-runs")
        assert run.config().corpus == expected and run.path.is_absolute()


# --- 5. the command line leads the user right ----------------------------------------------------------


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_the_path_train_prints_works_from_any_working_directory(tiny_corpus: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    trained = cli(first, "train", "--corpus", str(tiny_corpus), "--epochs", "1", "--min-freq", "2",
                  "--embed-size", "12", "--run-dir", "D", "--name", "r1")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    printed = trained.stdout.strip().splitlines()[-1].removeprefix("run finished: ")
    assert Path(printed) == first / "D" / "r1"
    for cwd in (first, second):
        neighbours = cli(cwd, "neighbors", printed, "cat1", "-k", "2")
        assert neighbours.returncode == 0 and len(neighbours.stdout.splitlines()) == 2, neighbours.stderr
        exported = cli(cwd, "export", printed, str(cwd / "v.txt"))
        assert exported.returncode == 0 and (cwd / "v.txt").is_file(), exported.stderr
    evaluated = cli(second, "evaluate", printed)
    assert evaluated.returncode == 0 and "saved with run r1" in evaluated.stdout, evaluated.stderr
    by_name = cli(second, "neighbors", "r1", "cat1", "-k", "2", "--run-dir", str(first / "D"))
    assert by_name.returncode == 0 and by_name.stdout == neighbours.stdout
    lost = cli(second, "neighbors", "r1", "cat1")
    assert lost.returncode == 2
    assert "no run named 'r1'" in lost.stderr and "--run-dir" in lost.stderr and "W2V_RUNS_DIR" in lost.stderr


def test_an_error_that_says_to_stop_a_run_names_the_command(tiny_corpus: Path, launcher: Launcher) -> None:
    run = Run.create(small(tiny_corpus), "held")
    with run.lock():
        for attempt in (lambda: launcher.resume(run), lambda: launcher.check_deletable(run), run.lock().__enter__):
            with pytest.raises(RunError) as refused:
                attempt()
            assert f"python -m core stop {run.path}" in str(refused.value)


def test_stop_on_the_command_line_asks_the_training_to_stop(
    tiny_corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Run.create(small(tiny_corpus), "stoppable")
    assert main(["stop", str(run.path)]) == 0 and "not training" in capsys.readouterr().out
    with run.lock():
        assert main(["stop", run.name]) == 0
    assert run.stop_flag().is_set()


# --- 6. names never alias ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("created", "looked_up"),
    [("a/b", "a?b"), ("a/b", "a b"), ("x y", "x:y"), ("dash", "-dash-"), ("café", "cafe\u0301")],
)
def test_a_lookup_never_opens_another_run_than_the_one_named(created: str, looked_up: str) -> None:
    run = Run.create(small("lee"), created)
    assert Run.open(run.name).path == run.path
    with pytest.raises(RunError, match=f"stored as '{run.name}'"):
        Run.open(looked_up)


def test_the_name_used_is_reported_when_sanitising_changed_it(
    tiny_corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for asked, stored in (("a/b", "a-b"), ("a?b", "a-b-1")):
        assert main(["train", "--corpus", str(tiny_corpus), "--epochs", "1", "--min-freq", "2", "--name", asked]) == 0
        assert f"run name {asked!r} is stored as {stored!r}" in capsys.readouterr().err
