"""Training jobs running in background threads of this process, for the app.

A :class:`JobRegistry` starts, stops and resumes runs, one thread per run. The worker threads never
touch the user interface: they write metrics and status to the run folder (see `core.pipeline`), and
the registry keeps a handle on the live trainer so pages can read its current vectors.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from core.config import TrainConfig
from core.pipeline import train_run
from core.query import Embeddings, UnknownWordError
from core.runs import Run, RunError
from core.train import Trainer


@dataclass
class Job:
    """One background training of one run; `error` holds the message of a failure."""

    run: Run
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    trainer: Trainer | None = None
    error: str | None = None
    download: tuple[int, int] | None = None

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


@dataclass(frozen=True)
class WatchResult:
    """Current neighbours of a watched word, or the closest vocabulary words when it is unknown."""

    word: str
    neighbors: list[tuple[str, float]]
    suggestions: list[str]


class JobRegistry:
    """In-process registry of training jobs keyed by run folder; safe to share between sessions."""

    def __init__(self, data_dir: str | Path | None = None) -> None:
        self.data_dir = data_dir
        self._jobs: dict[Path, Job] = {}
        self._lock = threading.Lock()

    def start(self, cfg: TrainConfig, name: str | None = None, root: str | Path | None = None) -> Run:
        """Create a run for `cfg` and train it in a new thread."""
        run = Run.create(cfg, name=name, root=root)
        self._launch(run, resume=False)
        return run

    def resume(self, run: Run) -> Run:
        """Continue a stopped, interrupted or failed run from its last finished epoch."""
        if run.status().get("state") == "finished":
            raise RunError(f"run {run.name} has finished; start a new run to train again")
        self._launch(run, resume=True)
        return run

    def stop(self, run: Run) -> bool:
        """Ask the run's thread to stop after its current step; False when it is not training here."""
        job = self.get(run)
        if job is None or not job.alive:
            return False
        job.stop.set()
        return True

    def get(self, run: Run) -> Job | None:
        with self._lock:
            return self._jobs.get(run.path.resolve())

    def is_live(self, run: Run) -> bool:
        job = self.get(run)
        return job is not None and job.alive

    def live_runs(self) -> list[Run]:
        """Runs training right now, most recently started first."""
        with self._lock:
            jobs = list(self._jobs.values())
        return [job.run for job in reversed(jobs) if job.alive]

    def wait(self, run: Run, timeout: float | None = None) -> bool:
        """Block until the run's thread ends; True when it has ended."""
        job = self.get(run)
        if job is None or job.thread is None:
            return True
        job.thread.join(timeout)
        return not job.thread.is_alive()

    def watch(self, run: Run, words: list[str], k: int = 5) -> list[WatchResult] | None:
        """Top-k neighbours of `words` in the live trainer's center vectors; None before training starts."""
        job = self.get(run)
        trainer = job.trainer if job else None
        if trainer is None:
            return None
        center = trainer.model.embed_v.weight.detach().cpu().numpy().copy()
        return watch_words(Embeddings(trainer.data.vocab.idx_to_token, center), words, k)

    def _launch(self, run: Run, resume: bool) -> None:
        key = run.path.resolve()
        with self._lock:
            current = self._jobs.get(key)
            if current is not None and current.alive:
                raise RunError(f"run {run.name} is already training")
            job = Job(run)
            job.thread = threading.Thread(target=self._work, args=(job, resume), name=f"train-{run.name}", daemon=True)
            self._jobs[key] = job
        job.thread.start()

    def _work(self, job: Job, resume: bool) -> None:
        def attach(trainer: Trainer) -> None:
            job.trainer = trainer

        def downloading(done: int, total: int) -> None:
            job.download = (done, total)

        try:
            train_run(
                job.run,
                stop=job.stop,
                resume=resume,
                data_dir=self.data_dir,
                download_progress=downloading,
                on_start=attach,
            )
        except Exception as exc:  # the pipeline has already written "failed" with this message to the run
            job.error = str(exc) or type(exc).__name__


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
