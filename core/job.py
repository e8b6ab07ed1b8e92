"""A whole run: load the corpus, train with checkpoints and metrics on disk, record how it ended.

One run in one process: a training process (`python -m core train`, which the app's launcher starts
too) calls :func:`train_run`, which takes the run's lock once, reads its settings once and passes them
down, and reports to the run folder through callbacks. Under torchrun every process calls it; rank 0
alone holds the run's lock and writes its files, the others only train. Every rank stops at a stop
request in the run folder.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

from core import distributed
from core.config import TrainConfig
from core.data import store
from core.data.checks import check_fits
from core.data.corpora import Progress, Sentences, load_corpus
from core.data.prepared import Prepared
from core.device import resolve_device
from core.distributed import World
from core.explore.vector_files import write_projector
from core.explore.vectors import Embeddings, watch_words
from core.files import remove_stale_temporaries
from core.runs import MetricRow, Run, RunError, WatchRow, kept_on_failure, resumed_config
from core.runs.board import Board
from core.trainer import Callback, Outcome, Trainer


@dataclass(frozen=True)
class RunSummary:
    run: Run
    outcome: Outcome
    prepare_seconds: float
    raw_tokens: int
    vocab_size: int
    device: str

    @property
    def mean_loss(self) -> float:
        losses = self.outcome.epoch_losses
        return sum(losses) / len(losses) if losses else float("nan")


def prepare(
    cfg: TrainConfig,
    data_dir: str | Path | None,
    progress: Progress | None,
    store_progress: Progress | None = None,
    world: World | None = None,
    sentences: Sentences | None = None,
) -> Prepared:
    """The run's corpus on its device: in memory, or streamed from a store for a large text file.

    A store is built once (rank 0 builds it while the other ranks wait) and reused after. `sentences`,
    when given, are the corpus already read (by `check_corpus`).
    """
    world = world or World()
    device = distributed.local_device(resolve_device(cfg.device), world)
    if store.wants_store(cfg.corpus):
        if world.is_main:
            store.open_or_build(Path(cfg.corpus), cfg.lowercase, store_progress)
        distributed.barrier(world)
        corpus = store.open_or_build(Path(cfg.corpus), cfg.lowercase)
        prepared = Prepared.from_store(corpus, cfg.min_freq, device)
    else:
        if sentences is None:
            sentences = load_corpus(cfg.corpus, cfg.lowercase, data_dir, progress)
        prepared = Prepared.build(sentences, cfg.min_freq, device)
        prepared.vocab.check_pairs(sentences)
    check_fits(cfg, prepared.vocab, device)
    return prepared


def train_run(
    run: Run,
    callbacks: Sequence[Callback] = (),
    stop: threading.Event | None = None,
    resume: bool = False,
    data_dir: str | Path | None = None,
    download_progress: Progress | None = None,
    on_start: Callable[[Trainer], None] | None = None,
    store_progress: Progress | None = None,
    sentences: Sentences | None = None,
    changes: Mapping[str, object] | None = None,
) -> RunSummary:
    """Train `run` from scratch or from its last checkpoint; its status on disk tells how it ended.

    `on_start` receives the trainer before the first step, e.g. to peek at the live vectors.
    `store_progress` follows the tokenising of a large text file into a store (bytes done, total).
    `sentences` is the run's corpus when the caller has read it already (see `check_corpus`).
    `changes` are settings a resume changes (see `RESUMABLE_FIELDS`). A resume that would undo epochs,
    or has none left to train, is refused; one that fails before its first checkpoint leaves the run as it was.
    """
    world = distributed.current()
    stop = run.stop_flag(stop)
    if not world.is_main:
        return _train_replica(run, resumed_config(run.config(), changes or {}), stop, resume, data_dir, world)
    with run.lock(), _settings(run, resume) as cfg:
        if resume:
            cfg = _resumed(run, cfg, changes or {})
        run.leave_queue()
        remove_stale_temporaries(run.path)
        try:
            return _train_main(
                run,
                cfg,
                callbacks,
                stop,
                resume,
                data_dir,
                download_progress,
                on_start,
                store_progress,
                sentences,
                world,
            )
        finally:
            run.clear_stop()


@contextmanager
def _settings(run: Run, resume: bool) -> Iterator[TrainConfig]:
    """The run's settings, read once; for a resume, with what it had kept if it fails (`kept_on_failure`)."""
    if resume:
        with kept_on_failure(run) as cfg:
            yield cfg
    else:
        yield run.config()


def _resumed(run: Run, cfg: TrainConfig, changes: Mapping[str, object]) -> TrainConfig:
    """Refuse a resume that would undo epochs or has nothing to train, then save the settings it changes."""
    state = run.saved_status().state  # a damaged status is refused here, before anything is written
    done, epochs = run.epochs_done(), changes.get("epochs", cfg.epochs)
    if epochs < done:
        raise RunError(f"run {run.name} has done {done} epochs; --epochs must be at least {done} to resume it")
    if epochs == done and state == "finished":
        raise RunError(f"run {run.name} has finished its {done} epochs; give --epochs above {done} to train further")
    return run.save_config(resumed_config(cfg, changes)) if changes else cfg


def _train_main(
    run: Run,
    cfg: TrainConfig,
    callbacks: Sequence[Callback],
    stop: threading.Event,
    resume: bool,
    data_dir: str | Path | None,
    download_progress: Progress | None,
    on_start: Callable[[Trainer], None] | None,
    store_progress: Progress | None,
    sentences: Sentences | None,
    world: World,
) -> RunSummary:
    """Rank 0's part of `train_run`, under the run's lock."""
    run.set_status("running", "loading the corpus")
    board = Board(run)
    try:
        began = time.perf_counter()
        downloading = _shown_in_status(run, "downloading PTB", download_progress)
        tokenising = _shown_in_status(run, "tokenising the corpus into a store (once)", store_progress)
        data = prepare(cfg, data_dir, downloading, tokenising, world, sentences)
        sentences = None  # the token lists are in `data` now; let them go while training runs
        watcher = _Watcher(run)
        reporters = [*callbacks, run.append_metric, watcher, board]
        trainer = Trainer(cfg, data, reporters, stop, _checkpointer(run), world)
        watcher.trainer = trainer
        if resume:
            _restore(run, trainer, data)
        else:
            run.save_vocab(data.vocab)
        board.open(resume)
        prepare_seconds = time.perf_counter() - began
        run.set_status("running", " ".join(trainer.notices) or "training")
        if on_start:
            on_start(trainer)
        outcome = trainer.train()
    except BaseException as exc:
        board.close()
        message = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        run.set_status("stopped" if isinstance(exc, KeyboardInterrupt) else "failed", message)
        raise
    board.close()
    summary = RunSummary(run, outcome, prepare_seconds, data.raw_tokens, len(data.vocab), str(data.device))
    _finish(run, trainer, summary, board)
    return summary


def _train_replica(
    run: Run, cfg: TrainConfig, stop: threading.Event, resume: bool, data_dir: str | Path | None, world: World
) -> RunSummary:
    """A rank other than 0: the same training, reading the run's checkpoint but writing nothing."""
    began = time.perf_counter()
    data = prepare(cfg, data_dir, None, None, world)
    trainer = Trainer(cfg, data, [], stop, None, world)
    checkpoint = run.load_checkpoint() if resume else None
    if checkpoint is not None:
        trainer.restore(checkpoint[0], checkpoint[1]["epoch_losses"], _seconds(checkpoint[1]))
    prepare_seconds = time.perf_counter() - began
    outcome = trainer.train()
    return RunSummary(run, outcome, prepare_seconds, data.raw_tokens, len(data.vocab), str(data.device))


def _restore(run: Run, trainer: Trainer, data: Prepared) -> None:
    """Load the last checkpoint; a run that never finished an epoch simply starts afresh."""
    checkpoint = run.load_checkpoint()
    if checkpoint is None:
        run.truncate_metrics(0)
        run.save_vocab(data.vocab)
        return
    if run.vocab().idx_to_token != data.vocab.idx_to_token:
        raise RunError(f"run {run.name}: the corpus no longer gives the vocabulary it was trained on")
    tensors, meta = checkpoint
    trainer.restore(tensors, meta["epoch_losses"], _seconds(meta))
    run.truncate_metrics(len(meta["epoch_losses"]))


def _seconds(meta: dict) -> float:
    """The training seconds behind a checkpoint (0 for one written before they were recorded)."""
    seconds = meta.get("train_seconds", 0.0)
    return float(seconds) if isinstance(seconds, int | float) and seconds >= 0 else 0.0


def _finish(run: Run, trainer: Trainer, summary: RunSummary, board: Board) -> None:
    """Record how the session ended; a finished run keeps its final vectors, also as the Projector's pair that
    TensorBoard shows (written once, at the end: a checkpoint stays as cheap as its weights)."""
    outcome = summary.outcome
    figures = {
        "epochs_done": len(outcome.epoch_losses),
        "mean_loss": summary.mean_loss,
        "final_loss": outcome.epoch_losses[-1] if outcome.epoch_losses else None,
        "train_seconds": outcome.total_seconds,  # the run's time: resumed parts count too
        "tokens_per_s": summary.raw_tokens * outcome.epochs_run / max(outcome.train_seconds, 1e-9),
        "vocab_size": summary.vocab_size,
        "device": summary.device,
    }
    if outcome.stopped:
        run.set_status("stopped", "stopped by the user; resume continues from the last finished epoch", **figures)
        return
    center, context = trainer.vectors()
    run.save_vectors(center, context)
    vocab = trainer.data.vocab
    board.projector(vocab.idx_to_token, center.cpu().numpy(), vocab.counts, write_projector)
    run.set_status("finished", " ".join(trainer.notices), **figures)


def _checkpointer(run: Run) -> Callable[[int, dict[str, torch.Tensor], list[float], float], None]:
    """Each epoch's checkpoint; the status then counts the epochs done, so a run's table shows them while it trains."""

    def save(epochs_done: int, tensors: dict[str, torch.Tensor], epoch_losses: list[float], seconds: float) -> None:
        meta = {"epochs_done": epochs_done, "epoch_losses": epoch_losses, "train_seconds": seconds}
        run.save_checkpoint(tensors, meta)
        try:
            message = run.saved_status().message
        except RunError:  # an unreadable status is rewritten whole
            message = "training"
        run.set_status("running", message, epochs_done=epochs_done, mean_loss=epoch_losses[-1])

    return save


def _shown_in_status(run: Run, what: str, progress: Progress | None) -> Progress:
    """`progress`, also written into the run's status message (twice a second at most) for the app to show."""
    last = 0.0

    def report(done: int, total: int) -> None:
        nonlocal last
        if progress:
            progress(done, total)
        now = time.monotonic()
        if now - last >= 0.5 or done == total:
            last = now
            of = f" of {total >> 20}" if total else ""
            run.set_status("running", f"{what}: {done >> 20}{of} MB")

    return report


class _Watcher:
    """Writes the watch words' neighbours in the live weights to the metrics, about once a second
    and at once when the words change, so a page shows them by reading alone.

    The products run on one BLAS thread: after each one, OpenBLAS's idle pool spins for about 0.1 s
    of a core, which it takes from the training's workers (a fifth of the speed, at once a second).
    """

    INTERVAL_S = 1.0

    def __init__(self, run: Run) -> None:
        self.run = run
        self.trainer: Trainer | None = None
        self.last = 0.0
        self.stamp = 0.0

    def __call__(self, row: MetricRow) -> None:
        words, stamp = self.run.watch_words()
        now = time.monotonic()
        if self.trainer is None or not words or (stamp == self.stamp and now - self.last < self.INTERVAL_S):
            return
        self.last, self.stamp = now, stamp
        center = self.trainer.vectors()[0].cpu().numpy()
        with threadpool_limits(1, user_api="blas"):
            results = watch_words(Embeddings(self.trainer.data.vocab.idx_to_token, center), words)
        self.run.append_metric(WatchRow(results, time.time()))
