"""The app's launcher: every run trains in its own process, started the way the command line starts one.

A start or resume puts the run in the queue (`core.runs.queue`, files in the runs folder, so it
survives a restart of the app), and the launcher starts queued runs while fewer than `max_jobs`
train (`$W2V_MAX_JOBS`, default 1: trainings share the cores, so one at a time finishes each
soonest). A run starts as `python -m core train --resume RUN`, or under torchrun for several
processes; that process takes the run's lock, leaves the queue, trains and writes status and
metrics. Everything the launcher knows comes from the runs folder (locks, queue, status), so a
restarted server, a second server and the command line all see the same runs. Stop is one
mechanism for every run: a stop request in its folder, which every training process checks.
While nothing trains, the launcher can keep a spare process that has imported what training needs
(`core.runs.spare`), so that a one-process run starts without that wait.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

from core.config import ConfigError, TrainConfig
from core.data.checks import check_corpus
from core.data.corpora import BUILT_IN, DATA_DIR_ENV
from core.files import RUNS_ENV
from core.runs import queue
from core.runs.folder import Run, RunError, base_folder, list_runs
from core.runs.records import Status
from core.runs.spare import Spare, wanted

MAX_JOBS_ENV = "W2V_MAX_JOBS"
ROOT = Path(__file__).resolve().parents[2]  # the project folder, where `python -m core` works
PUMP_S = 0.25
MAX_CHECKS = 32  # corpus checks made ahead that a launcher remembers


def max_jobs_from_env() -> int:
    """How many runs may train at once: `$W2V_MAX_JOBS`, default 1."""
    raw = os.environ.get(MAX_JOBS_ENV, "1")
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ValueError(f"{MAX_JOBS_ENV} must be a whole number of at least 1, got {raw!r}")
    return int(raw)


class Launcher:
    """Starts, queues, stops and deletes runs of one runs folder; safe to share between sessions and threads.

    A background thread starts queued runs as slots free up; `close` ends it (the training
    processes go on: they belong to no server).
    """

    def __init__(
        self, data_dir: str | Path | None = None, max_jobs: int | None = None, root: str | Path | None = None
    ) -> None:
        self.data_dir = None if data_dir is None else Path(os.path.abspath(data_dir))
        self.max_jobs = max_jobs or max_jobs_from_env()
        self.root = base_folder(root)
        # run name -> the process this launcher started for it, the queue entry it was started from, and the
        # run's status when it started (a process that ends with the status unchanged wrote nothing)
        self._children: dict[str, tuple[subprocess.Popen, Path, Status]] = {}
        # run name -> its status before a Resume queued it, put back if that resume fails before an epoch
        self._before_resume: dict[str, tuple[Status, int]] = {}
        self._lock = threading.Lock()
        self._spare: Spare | None = None
        self._checks: dict[tuple, Future[bool]] = {}  # corpus checks made ahead (`check_ahead`), by what they read
        self._checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="corpus-check")
        # None until a page asks for a spare (`keep_spare`); False for good once a spare failed
        self._keep_spare: bool | None = None
        self._closed = threading.Event()
        self._pump_thread = threading.Thread(target=self._pump_loop, name="run-queue", daemon=True)
        self._pump_thread.start()  # runs queued before a restart start as slots free up

    # --- what the user asks ----------------------------------------------------------------
    def start(
        self, cfg: TrainConfig, name: str | None = None, processes: int = 1, watch: list[str] | None = None
    ) -> Run:
        """Create a run for `cfg` and queue it; it starts at once when a slot is free.

        The corpus is read first: a corpus or setting that cannot train raises its error (`CorpusError`,
        `VocabError`, `ConfigError`) before any run folder exists. `processes` > 1 trains data-parallel
        in that many torchrun processes. `watch`: words whose neighbours the training reports.
        """
        _check_processes(processes, cfg.device)
        self._check(cfg)
        run = Run.create(cfg, name=name, root=self.root)
        if watch:
            run.set_watch_words(watch)
        self._enqueue(run, processes)
        return run

    def resume(self, run: Run, processes: int = 1) -> Run:
        """Queue a stopped, interrupted or failed run to go on from its last finished epoch.

        Whether it may be queued is decided under the queue's lock, in the same step that queues it: two
        Resumes at once (two tabs, two servers on one runs folder) queue it once.
        """
        self._refuse_resume(run)  # at once, before reading the corpus; again under the lock below
        cfg = run.config()
        _check_processes(processes, cfg.device)
        self._check(cfg)
        self._enqueue(run, processes, self._refuse_resume)
        return run

    def _refuse_resume(self, run: Run) -> None:
        """Raise RunError unless `run` may be queued to resume. In this order: a process leaves the queue only
        once it holds the run's lock, and writes how the run ended before it lets the lock go."""
        if run.is_queued():
            raise RunError(f"run {run.name} is already waiting in the queue")
        if run.is_training():
            raise RunError(f"run {run.name} is being trained by another process; stop it ({run.stop_hint()})")
        if run.status().state == "finished":
            raise RunError(f"run {run.name} has finished; start a new run to train again")

    def stop(self, run: Run) -> bool:
        """Stop a training run after its current step, or take a queued one out; False when it is neither."""
        if self.cancel(run):
            return True
        if not self.is_live(run):
            return False
        run.request_stop()
        return True

    def cancel(self, run: Run) -> bool:
        """Take a queued run out of the queue, marked `stopped` so Resume can queue it again; False if not queued.

        A run whose process holds its lock is training even while its queue entry is still there (the
        process leaves the queue just after taking the lock): it is not cancelled but stopped (`stop`).
        """
        with queue.exclusive(self.root) as queued, self._lock:
            if not queued or self._launching(run.name) or run.is_training() or not run.leave_queue():
                return False
            run.set_status("stopped", "cancelled while queued; Resume queues it again")
        return True

    def delete(self, run: Run) -> None:
        """Delete the run's folder; refused while it trains or waits, here or in another process."""
        self.check_deletable(run)
        run.delete()  # under the run's lock: a training that starts meanwhile is refused, or refuses this

    def check_deletable(self, run: Run) -> None:
        """Raise RunError when `delete` would refuse the run, e.g. before asking the user to confirm."""
        if not run.path.is_dir():
            raise RunError(f"run {run.name} no longer exists: it was deleted")
        if self.is_live(run):
            raise RunError(f"run {run.name} is training: stop it first, then delete it ({run.stop_hint()})")
        if run.is_queued():
            raise RunError(f"run {run.name} is waiting in the queue: stop it first, then delete it (Stop in the app)")

    # --- what the pages show ---------------------------------------------------------------
    def is_live(self, run: Run) -> bool:
        """Training now (its lock is held), or started by this launcher and not yet holding it."""
        return run.is_training() or self._launching(run.name)

    def is_queued(self, run: Run) -> bool:
        return run.is_queued() and not self._launching(run.name) and not run.is_training()

    def live_runs(self) -> list[Run]:
        """Runs training right now under the runs folder, by whichever process, newest first."""
        return [run for run in list_runs(self.root) if self.is_live(run)]

    def queued_runs(self) -> list[Run]:
        """Runs waiting for a free slot, next to start first."""
        runs = []
        for entry in queue.entries(self.root):
            if not self._launching(entry.run):
                try:
                    run = Run.open(entry.run, self.root)
                except RunError:
                    continue  # deleted meanwhile; the pump drops its entry
                if not run.is_training():  # its process holds the lock and leaves the queue in a moment
                    runs.append(run)
        return runs

    def position(self, run: Run) -> int | None:
        """1-based place of the run in the queue; None when it is not queued."""
        names = [queued.name for queued in self.queued_runs()]
        return names.index(run.name) + 1 if run.name in names else None

    def wait(self, run: Run, timeout: float | None = None) -> bool:
        """Block until the run neither waits nor trains; True when that happened within `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_live(run) or run.is_queued():
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def keep_spare(self) -> None:
        """From now on keep a training process ready while nothing trains, so that the next Start begins
        at once (`core.runs.spare`); the app asks for it. Off when `$W2V_SPARE_PROCESS` is 0."""
        if self._keep_spare is None and wanted():
            self._keep_spare = True
            self.pump()

    def check_ahead(self, cfg: TrainConfig) -> None:
        """Read and check `cfg`'s corpus in the background now (PTB: about a second), so that a Start with
        these settings need not; the Train page asks while the user looks at the form."""
        key = _check_key(cfg, self.data_dir)
        with self._lock:
            if key not in self._checks:
                if len(self._checks) >= MAX_CHECKS:
                    self._checks.clear()
                self._checks[key] = self._checker.submit(lambda: check_corpus(cfg, self.data_dir) is not None)

    def _check(self, cfg: TrainConfig) -> None:
        """Raise the corpus's or a setting's error (see `check_corpus`), unless a check made ahead for the
        same corpus file and settings passed."""
        ahead = self._checks.get(_check_key(cfg, self.data_dir))
        if ahead is not None and ahead.exception() is None and ahead.result():
            return
        check_corpus(cfg, self.data_dir)  # a failed check ahead raises here again, with the file as it is now

    @property
    def spare_pid(self) -> int | None:
        """The process id of the spare process waiting for the next run, if one waits."""
        spare = self._spare
        return spare.process.pid if spare is not None and spare.alive() else None

    def close(self) -> None:
        """Stop starting queued runs from this launcher (runs that train go on); end its spare process."""
        self._closed.set()
        self._pump_thread.join(5)
        self._checker.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            if self._spare is not None:
                self._spare.close()
                self._spare = None

    # --- the queue's engine ----------------------------------------------------------------
    def _enqueue(self, run: Run, processes: int, refuse: Callable[[Run], None] | None = None) -> None:
        """Queue the run; `refuse` (raising RunError) is checked under the queue's lock, in the same step."""
        with queue.exclusive(self.root, create=True):
            if refuse is not None:
                refuse(run)
                self._before_resume[run.name] = (run.saved_status(), run.epochs_done())
            queue.push(self.root, run.name, processes)
            run.set_status("queued", f"waiting for a free training slot ({self.max_jobs} at a time)")
        self.pump()

    def pump(self) -> None:
        """Start queued runs while slots are free, and settle the runs of launched processes that ended."""
        with queue.exclusive(self.root) as queued, self._lock:
            self._reap()
            busy = {run.name for run in list_runs(self.root) if run.is_training()} | set(self._children)
            for entry in queue.entries(self.root) if queued else []:
                if len(busy) >= self.max_jobs:
                    break
                if entry.run in busy:
                    continue
                launchable = self._launchable(entry)
                if launchable is not None:
                    run, launched = launchable
                    try:
                        self._children[run.name] = (self._launch(run, entry.processes), entry.path, launched)
                    except RunError as exc:  # a damaged run fails alone; the runs behind it still start
                        entry.path.unlink(missing_ok=True)
                        run.set_status("failed", str(exc))
                        continue
                    busy.add(run.name)
            if not busy:
                self._ready_spare()

    def _launchable(self, entry: queue.QueueEntry) -> tuple[Run, Status] | None:
        """The entry's run and its status, if it is one to launch; otherwise the entry is dropped, never launched:
        its run was deleted or is damaged, has finished (nothing to train), or the entry asks for more processes
        than the machine gives its device (said in the run's log; a run waiting on it is stopped, so Resume
        queues it again)."""
        try:
            run = Run.open(entry.run, self.root)
            status, device = run.saved_status(), run.config().device
        except RunError:
            status = None
        if status is not None and status.state != "finished":
            try:
                _check_processes(entry.processes, device)
                return run, status
            except ConfigError as exc:
                _drop_note(run, entry, str(exc))
        entry.path.unlink(missing_ok=True)
        return None

    def _pump_loop(self) -> None:
        while not self._closed.wait(PUMP_S):
            try:
                self.pump()
            except (OSError, RunError):
                continue  # e.g. the runs folder was removed, or a status file is damaged; try again next tick

    def _launching(self, name: str) -> bool:
        """Started by this launcher and not yet training: its process lives and it still has its queue entry
        (the training process leaves the queue once it holds the run's lock)."""
        child = self._children.get(name)
        return child is not None and child[0].poll() is None and child[1].exists()

    def _ready_spare(self) -> None:
        """Start a spare process when one is wanted and none waits; only while nothing trains, as its
        imports would take a core from the training. A spare that ended by itself (it could not import
        what training needs) or could not start stops the spares: runs then start cold, as before."""
        if self._spare is not None and not self._spare.alive():
            self._spare, self._keep_spare = None, False
        if self._keep_spare and self._spare is None and not self._closed.is_set():
            try:
                self._spare = Spare(ROOT, _child_env())
            except OSError:
                self._keep_spare = False

    def _reap(self) -> None:
        """Forget ended processes and settle their runs from what the processes wrote, never from an exit code
        alone: a final status a process wrote stands; a process that wrote nothing (it refused, or had nothing
        to do) leaves the run as it was before it was queued; only one that died while training, without a
        final status, makes its run `failed`, with the last lines of its output."""
        for name, (process, entry, launched) in list(self._children.items()):
            code = process.poll()
            if code is None:
                continue
            del self._children[name]
            entry.unlink(missing_ok=True)
            before = self._before_resume.pop(name, None)
            try:
                run = Run.open(name, self.root)
                if not run.is_training():
                    _settle(run, launched, before, code)
            except RunError:
                continue  # deleted, or its status is damaged: nothing to settle

    def _launch(self, run: Run, processes: int) -> subprocess.Popen:
        """`python -m core train --resume RUN` (under torchrun for several processes), output to the run's log;
        RunError, before anything starts, when the run's stop request or log is damaged."""
        run.clear_stop()
        argv = ["train", "--resume", run.name, "--run-dir", str(self.root)]
        if self.data_dir is not None:
            argv += ["--data-dir", str(self.data_dir)]
        env = _child_env()
        with run.open_log() as log:  # opened here, so a log that is not a plain file fails before anything starts
            if processes == 1 and self._spare is not None:
                spare, self._spare = self._spare, None
                process = spare.hand_over(argv, run.log_path(), env)
                if process is not None:
                    return process
            command = [sys.executable]
            if processes > 1:
                command += ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
            command += ["-m", "core", *argv]
            return subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )


def _drop_note(run: Run, entry: queue.QueueEntry, why: str) -> None:
    """Say in the run's log why its queue entry was dropped; a run that was waiting on it is stopped."""
    with suppress(RunError), run.open_log() as log:  # a log that is not a plain file takes no note
        log.write(f"queue entry {entry.path.name} dropped, never launched: {why}\n".encode())
    if run.saved_status().state == "queued":
        run.set_status("stopped", f"its queue entry was dropped: {why}; Resume queues it again")


def _settle(run: Run, launched: Status, before: tuple[Status, int] | None, code: int) -> None:
    """Settle the run of a launched process that ended (see `Launcher._reap`)."""
    now = run.saved_status()
    if now.state in ("finished", "stopped", "failed") and now != launched:
        return  # the process said how it ended
    if now == launched:  # it wrote nothing: the run is as it was before it was queued
        if before is not None and _epochs_done(run) == before[1]:
            kept = before[0]
            run.set_status(kept.state, f"Resume failed, the run is as it was: {run.last_error()}", **kept.figures())
        elif now.state == "queued":
            run.set_status("failed", f"the training process ended before training (code {code}): {run.last_error()}")
        return
    run.set_status("failed", f"the training process ended without saying how (code {code}): {run.last_error()}")


def _check_processes(processes: int, device: str) -> None:
    """`core.distributed.check_processes`, imported here: it imports torch, which `core.runs` leaves to the
    functions that need it."""
    from core.distributed import check_processes

    check_processes(processes, device)


def _check_key(cfg: TrainConfig, data_dir: str | Path | None) -> tuple:
    """What a corpus check depends on: the corpus (a file by its size and time of change: PTB is
    checked by its sha1 when read, Lee ships with gensim) and the settings `check_corpus` looks at."""
    path = Path(cfg.corpus)
    stamp = None
    if cfg.corpus not in BUILT_IN:
        try:
            stat = path.stat()
            stamp = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        except OSError:
            stamp = "missing"
    where = (str(data_dir), os.environ.get(DATA_DIR_ENV))
    return (cfg.corpus, stamp, where, cfg.lowercase, cfg.min_freq, cfg.negatives, cfg.max_window)


def _child_env() -> dict[str, str]:
    """The environment of a training process, which runs in the project folder (where `python -m core` works):
    folders named relative to the server's working directory are made absolute. The app's server and browser
    share the cores with it: OpenMP threads that spin while idle would lose their time slices to them (see
    core/__init__.py), so they wait passively."""
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    for name in (RUNS_ENV, DATA_DIR_ENV, "W2V_CACHE_DIR"):
        if env.get(name):
            env[name] = os.path.abspath(env[name])
    return env


def _epochs_done(run: Run) -> int | None:
    try:
        return run.epochs_done()
    except RunError:
        return None
