"""Training jobs running in background threads of this process, for the app.

A :class:`JobRegistry` starts, stops, resumes, queues and deletes runs, one thread per training run.
At most `max_jobs` runs train at once (`$W2V_MAX_JOBS`, default 1: trainings share the machine's
cores, so one at a time finishes each soonest); further starts wait in a first-in first-out queue,
with status `queued` on disk, and start as trainings end. The worker threads never touch the user
interface: they write metrics and status to the run folder (see `core.pipeline`), and the registry
keeps a handle on the live trainer so pages can read its current vectors.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from core import distributed
from core.config import TrainConfig
from core.data import Sentences
from core.pipeline import check_corpus, train_run
from core.query import Embeddings, UnknownWordError
from core.runs import Run, RunError
from core.train import Trainer

MAX_JOBS_ENV = "W2V_MAX_JOBS"


@dataclass
class Job:
    """One background training of one run; `error` holds the message of a failure."""

    run: Run
    resume: bool = False
    processes: int = 1  # more than one: launched with torchrun, followed through the run folder
    state: Literal["queued", "running", "done"] = "queued"
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    trainer: Trainer | None = None
    error: str | None = None
    download: tuple[int, int] | None = None
    sentences: Sentences | None = None  # the corpus as read by the start's check, handed to the worker once

    def take_sentences(self) -> Sentences | None:
        sentences, self.sentences = self.sentences, None
        return sentences


@dataclass(frozen=True)
class WatchResult:
    """Current neighbours of a watched word, or the closest vocabulary words when it is unknown."""

    word: str
    neighbors: list[tuple[str, float]]
    suggestions: list[str]


def max_jobs_from_env() -> int:
    """How many runs may train at once: `$W2V_MAX_JOBS`, default 1."""
    raw = os.environ.get(MAX_JOBS_ENV, "1")
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ValueError(f"{MAX_JOBS_ENV} must be a whole number of at least 1, got {raw!r}")
    return int(raw)


class JobRegistry:
    """In-process registry of training jobs keyed by run folder; safe to share between sessions."""

    def __init__(self, data_dir: str | Path | None = None, max_jobs: int | None = None) -> None:
        self.data_dir = data_dir
        self.max_jobs = max_jobs or max_jobs_from_env()
        self._jobs: dict[Path, Job] = {}
        self._queue: deque[Job] = deque()
        self._lock = threading.Lock()

    def start(
        self, cfg: TrainConfig, name: str | None = None, root: str | Path | None = None, processes: int = 1
    ) -> Run:
        """Create a run for `cfg` and train it in a new thread, now or once the runs queued before it end.

        The corpus is read first: a corpus or setting that cannot train raises its error (`CorpusError`,
        `VocabError`, `ConfigError`) before any run folder exists. `processes` > 1 trains data-parallel
        in that many torchrun processes (one per GPU, or CPU processes sharing the cores).
        """
        distributed.check_processes(processes, cfg.device)
        sentences = check_corpus(cfg, self.data_dir)
        run = Run.create(cfg, name=name, root=root)
        self._submit(run, resume=False, processes=processes, sentences=sentences)
        return run

    def resume(self, run: Run, processes: int = 1) -> Run:
        """Continue a stopped, interrupted or failed run from its last finished epoch (queued if slots are busy),
        with the same or another number of processes."""
        if run.status().get("state") == "finished":
            raise RunError(f"run {run.name} has finished; start a new run to train again")
        cfg = run.config()
        distributed.check_processes(processes, cfg.device)
        sentences = check_corpus(cfg, self.data_dir)
        self._submit(run, resume=True, processes=processes, sentences=sentences)
        return run

    def stop(self, run: Run) -> bool:
        """Stop a training run after its current step, or cancel a queued one; False when it is neither."""
        if self.cancel(run):
            return True
        job = self.get(run)
        if job is None or job.state != "running":
            return False
        job.stop.set()
        return True

    def cancel(self, run: Run) -> bool:
        """Take a queued run out of the queue, marked `stopped` so Resume can queue it again; False if not queued."""
        with self._lock:
            job = self._jobs.get(run.path.resolve())
            if job is None or job.state != "queued":
                return False
            self._queue.remove(job)
            job.state = "done"
            run.set_status("stopped", "cancelled while queued; Resume queues it again")
        job.done.set()
        return True

    def delete(self, run: Run) -> None:
        """Delete the run's folder; refused while it trains or waits, here or in another process."""
        with self._lock:
            self._check_deletable(run)
            self._jobs.pop(run.path.resolve(), None)
            run.delete()

    def check_deletable(self, run: Run) -> None:
        """Raise RunError when `delete` would refuse the run, e.g. before asking the user to confirm."""
        with self._lock:
            self._check_deletable(run)

    def _check_deletable(self, run: Run) -> None:
        job = self._jobs.get(run.path.resolve())
        state = job.state if job is not None and job.state != "done" else _state_on_disk(run)
        if state in ("queued", "running"):
            doing = "waiting in the queue" if state == "queued" else "training"
            raise RunError(f"run {run.name} is {doing}: stop it first, then delete it")

    def get(self, run: Run) -> Job | None:
        with self._lock:
            return self._jobs.get(run.path.resolve())

    def is_live(self, run: Run) -> bool:
        job = self.get(run)
        return job is not None and job.state == "running"

    def is_queued(self, run: Run) -> bool:
        job = self.get(run)
        return job is not None and job.state == "queued"

    def live_runs(self) -> list[Run]:
        """Runs training right now, most recently started first."""
        with self._lock:
            jobs = list(self._jobs.values())
        return [job.run for job in reversed(jobs) if job.state == "running"]

    def queued_runs(self) -> list[Run]:
        """Runs waiting for a free slot, next to start first."""
        with self._lock:
            return [job.run for job in self._queue]

    def position(self, run: Run) -> int | None:
        """1-based place of the run in the queue; None when it is not queued."""
        names = [queued.path.resolve() for queued in self.queued_runs()]
        key = run.path.resolve()
        return names.index(key) + 1 if key in names else None

    def wait(self, run: Run, timeout: float | None = None) -> bool:
        """Block until the run's training ends (or it is cancelled); True when it has ended."""
        job = self.get(run)
        return job is None or job.done.wait(timeout)

    def watch(self, run: Run, words: list[str], k: int = 5) -> list[WatchResult] | None:
        """Top-k neighbours of `words` in the live trainer's center vectors; None before training starts."""
        job = self.get(run)
        trainer = job.trainer if job else None
        if trainer is None:
            return None
        center = trainer.model.embed_v.weight.detach().cpu().numpy().copy()
        return watch_words(Embeddings(trainer.data.vocab.idx_to_token, center), words, k)

    def _submit(self, run: Run, resume: bool, processes: int, sentences: Sentences | None = None) -> None:
        """Begin the job now or queue it; a job that starts now keeps the corpus its check read (one read less)."""
        key = run.path.resolve()
        with self._lock:
            current = self._jobs.get(key)
            if current is not None and current.state != "done":
                raise RunError(f"run {run.name} is already {'queued' if current.state == 'queued' else 'training'}")
            job = Job(run, resume, processes)
            self._jobs.pop(key, None)  # re-inserted last: live_runs lists the newest first
            self._jobs[key] = job
            if self._running() < self.max_jobs:
                job.sentences = sentences if processes == 1 else None
                self._begin(job)
            else:
                self._queue.append(job)
                run.set_status("queued", f"waiting for a free training slot ({self.max_jobs} at a time)")

    def _running(self) -> int:
        return sum(job.state == "running" for job in self._jobs.values())

    def _begin(self, job: Job) -> None:
        """Start the job's thread; called with the lock held."""
        job.state = "running"
        job.thread = threading.Thread(target=self._work, args=(job,), name=f"train-{job.run.name}", daemon=True)
        job.thread.start()

    def _work(self, job: Job) -> None:
        def attach(trainer: Trainer) -> None:
            job.trainer = trainer

        def downloading(done: int, total: int) -> None:
            job.download = (done, total)

        try:
            if job.processes > 1:
                self._launch(job)
            else:
                train_run(
                    job.run,
                    stop=job.stop,
                    resume=job.resume,
                    data_dir=self.data_dir,
                    download_progress=downloading,
                    on_start=attach,
                    sentences=job.take_sentences(),
                )
        except Exception as exc:  # the pipeline has already written "failed" with this message to the run
            job.error = str(exc) or type(exc).__name__
        finally:
            with self._lock:
                job.state = "done"
                while self._queue and self._running() < self.max_jobs:
                    self._begin(self._queue.popleft())
            job.done.set()

    def _launch(self, job: Job) -> None:
        """Train in `job.processes` torchrun processes; they write status and metrics to the run folder."""
        if not job.resume:
            job.run.set_status("running", f"starting {job.processes} processes")
        process = distributed.launch(job.run, job.processes, self.data_dir)
        code = distributed.follow(process, job.run, job.stop)
        if code != 0:
            message = f"the {job.processes} training processes ended with code {code}: {distributed.log_tail(job.run)}"
            if _state_on_disk(job.run) in ("running", "queued"):
                job.run.set_status("failed", message)
            raise RunError(message)


def _state_on_disk(run: Run) -> str | None:
    try:
        return run.status().get("state")
    except RunError:
        return None  # a damaged run can always be deleted


def watch_words(embeddings: Embeddings, words: list[str], k: int = 5) -> list[WatchResult]:
    """Neighbours of each word, or spelling suggestions for a word outside the vocabulary."""
    results = []
    for word in words:
        try:
            results.append(WatchResult(word, embeddings.neighbors(word, k), []))
        except UnknownWordError as exc:
            results.append(WatchResult(word, [], exc.suggestions))
    return results


def parse_words(text: str) -> list[str]:
    """Words from a comma- or space-separated list, in order, without repeats."""
    return list(dict.fromkeys(w for w in text.replace(",", " ").split() if w))
