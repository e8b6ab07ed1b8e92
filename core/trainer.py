"""Training loop: epochs of freshly sampled data, progress points, stop flag, checkpoints, resume."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Literal

import torch

from core.config import TrainConfig
from core.data.checks import too_big
from core.data.prepared import Prepared
from core.data.sampling import NoiseTable, epoch_generator, keep_probabilities, sample_epoch
from core.device import set_threads
from core.distributed import Replicas, World
from core.engines import make_engine
from core.model import SkipGram
from core.runs.records import MetricRow

EVENT_INTERVAL_S = 0.2
MIN_LOSS_POINTS = 50  # step points a run reports at least, however small: one each 1/100 of its centers
DIVERGED_LOSS = 50.0
RANK_SEED_STRIDE = 1 << 32  # ranks draw from different streams: rank r uses seed + r * stride

Callback = Callable[[MetricRow], None]
Checkpoint = Callable[[int, dict[str, torch.Tensor], list[float], float], None]  # (epochs done, state, losses, s)


class TrainingError(RuntimeError):
    """Training cannot go on (the loss became NaN or infinite, or diverged)."""


@dataclass
class Outcome:
    """How `Trainer.train` ended; `epoch_losses` covers every epoch done, resumed ones included.

    `train_seconds` is this session's training time; `total_seconds` adds the time behind the
    checkpoint it resumed from, so a run stopped and resumed counts both parts.
    """

    stopped: bool
    epoch_losses: list[float]
    train_seconds: float
    centers: int
    epochs_run: int
    steps: int = 0
    total_seconds: float = 0.0


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        data: Prepared,
        callbacks: Sequence[Callback] = (),
        stop: threading.Event | None = None,
        checkpoint: Checkpoint | None = None,
        world: World | None = None,
    ) -> None:
        self.cfg = cfg
        self.data = data
        self.device = data.device
        self.callbacks = list(callbacks)
        self.stop = stop or threading.Event()
        self.checkpoint = checkpoint
        self.world = world or World()
        threads = set_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.notices: list[str] = []  # one line each: what the user should know about how this run trains
        with _allocating(cfg, len(data.vocab), self.device):
            self.model = SkipGram(len(data.vocab), cfg.embed_size).to(self.device)
            self.keep = keep_probabilities(data.vocab.counts, cfg.subsample).to(self.device)
            noise = NoiseTable(data.vocab.counts).to(self.device)
            self.engine = make_engine(cfg, self.model, noise, threads, self.world.size > 1, self.notices.append)
        self.epoch_losses: list[float] = []
        self.seconds_before = 0.0  # training time behind the restored checkpoint
        self.replicas = Replicas(self.world) if self.world.size > 1 else None
        if self.replicas:
            self.engine.replicate(self.replicas)
        self.agreed_stop = False

    def restore(self, tensors: dict[str, torch.Tensor], epoch_losses: list[float], seconds: float = 0.0) -> None:
        """Continue from a checkpoint written after `len(epoch_losses)` epochs and `seconds` of training."""
        with torch.no_grad():
            self.model.embed_v.weight.copy_(tensors["center"])
            self.model.embed_u.weight.copy_(tensors["context"])
        self.engine.load_state({k: v.to(self.device) for k, v in tensors.items()})
        self.epoch_losses = list(epoch_losses)
        self.seconds_before = seconds

    def vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The live center and context tables, detached: they change while training goes on."""
        return self.model.embed_v.weight.detach(), self.model.embed_u.weight.detach()

    def state(self) -> dict[str, torch.Tensor]:
        return {"center": self.model.embed_v.weight, "context": self.model.embed_u.weight, **self.engine.state()}

    def train(self) -> Outcome:
        progress = Progress(self.cfg.epochs, self._shard_tokens(), self.seconds_before, len(self.epoch_losses))
        if self.replicas:
            self.replicas.reset()
        for epoch in range(len(self.epoch_losses), self.cfg.epochs):
            gen = epoch_generator(self.cfg.seed + self.world.rank * RANK_SEED_STRIDE, epoch, self.device)
            progress.start_epoch(epoch)
            total, scored = 0.0, 0  # the epoch's scored losses
            for segment in self.data.segments(self.world.rank, self.world.size):
                if self._stopping():
                    return progress.outcome(True, self.epoch_losses)
                sample = sample_epoch(segment.ids, segment.sentence, self.keep, self.cfg.max_window, gen)
                if self.engine.shuffles:
                    sample.shuffle(gen)
                progress.start_segment(segment.raw_tokens, len(sample))
                bounds = self._bounds(len(sample), progress.run_centers())
                losses = _Losses(self.device)
                with closing(self.engine.run(sample, bounds, progress.span(), gen)) as steps, self._out_of_memory():
                    for step, (centers, loss, count) in enumerate(steps, 1):
                        progress.add(centers)
                        losses.add(loss, count)
                        last = step == len(bounds)
                        if last or step % self.cfg.sync_every == 0:
                            self._sync_replicas(progress)
                        if losses.pending_n and (last or self._point_due(step, progress)):
                            self._emit(progress.point("step", losses.read(epoch)))
                        if not last and self._stopping():
                            return progress.outcome(True, self.epoch_losses)
                total, scored = total + losses.total, scored + losses.scored
            self.epoch_losses.append(self._epoch_loss(total, scored, epoch))
            row = progress.point("epoch", self.epoch_losses[-1])
            if self.checkpoint:  # a resume starts its clock where this row ends, so no row goes back
                self.checkpoint(epoch + 1, self.state(), self.epoch_losses, row.elapsed_s)
            self._emit(row)
        return progress.outcome(False, self.epoch_losses)

    def _shard_tokens(self) -> int:
        return sum(stop - start for start, stop in self.data.shards(self.world.size)[self.world.rank])

    def _bounds(self, n: int, run_centers: int) -> list[tuple[int, int]]:
        """Each step's centers. Ranks agree on a step count and split their own samples evenly into it.

        An engine whose steps are only reporting points (`splittable`) takes steps of at most 1/100
        of the run's `run_centers`, so a tiny corpus still draws MIN_LOSS_POINTS loss points.
        """
        chunk = self.engine.chunk
        if self.engine.splittable:
            chunk = max(1, min(chunk, run_centers // (2 * MIN_LOSS_POINTS)))
        if not self.replicas:
            return [(start, min(start + chunk, n)) for start in range(0, n, chunk)]
        steps = self.replicas.agree_steps(math.ceil(n / chunk))
        return [(i * n // steps, (i + 1) * n // steps) for i in range(steps)]

    def _sync_replicas(self, progress: Progress) -> None:
        """Merge the replicas (fast mode); the ranks agree whether to stop and learn each other's speed."""
        if self.replicas:
            self.agreed_stop, progress.ranks = self.replicas.sync(self.stop.is_set(), progress.rate())

    def _point_due(self, step: int, progress: Progress) -> bool:
        """A step point is due each EVENT_INTERVAL_S and each 1/(2 * MIN_LOSS_POINTS) of the run.

        Reading the loss back syncs a GPU, so there the clock counts only every `log_every` steps.
        Progress points in a data-parallel run wait for the first sync, which brings every rank's speed.
        """
        cheap = self.device.type == "cpu" or step % self.cfg.log_every == 0
        return (cheap and progress.due()) or (progress.progressed() and bool(progress.ranks or not self.replicas))

    def _stopping(self) -> bool:
        """Alone, the stop flag; in a group, what the ranks agreed at the last sync (all stop at one step)."""
        return self.agreed_stop if self.replicas else self.stop.is_set()

    def _epoch_loss(self, total: float, scored: int, epoch: int) -> float:
        """The mean loss of the epoch's scored centers over all ranks."""
        if self.replicas:
            total, scored = self.replicas.total([total, scored])
        return _checked(total / max(scored, 1), epoch)

    @contextmanager
    def _out_of_memory(self) -> Iterator[None]:
        try:
            yield
        except torch.OutOfMemoryError as exc:
            smaller = max(1, self.cfg.batch_size // 2)
            raise TrainingError(
                f"the {self.device.type} device ran out of memory at batch_size={self.cfg.batch_size}; "
                f"resume the run with batch_size={smaller} (it continues from its last finished epoch)"
            ) from exc

    def _emit(self, row: MetricRow) -> None:
        for callback in self.callbacks:
            callback(row)


@contextmanager
def _allocating(cfg: TrainConfig, words: int, device: torch.device) -> Iterator[None]:
    """A failed allocation of the tables (the estimate of `check_memory` can be beaten by other processes)
    becomes the same one-line TrainingError, not an allocator's traceback."""
    try:
        yield
    except RuntimeError as exc:  # torch.OutOfMemoryError is one
        if not isinstance(exc, torch.OutOfMemoryError) and "can't allocate memory" not in str(exc):
            raise
        raise TrainingError(too_big(cfg, words, device)) from exc


def _checked(loss: float, epoch: int) -> float:
    if not math.isfinite(loss) or loss > DIVERGED_LOSS:
        raise TrainingError(
            f"the loss became {loss:.4g} in epoch {epoch + 1}: training diverged. "
            "Lower the learning rate (lr for the book mode, sgd_lr for the fast mode) and start again"
        )
    return loss


class _Losses:
    """A segment's scored losses: those since the last point, summed on the device until read (reading
    syncs a GPU), and the sum and count of those read."""

    def __init__(self, device: torch.device) -> None:
        self.pending = torch.zeros((), device=device)
        self.pending_n = 0
        self.total, self.scored = 0.0, 0

    def add(self, loss: torch.Tensor, scored: int) -> None:
        self.pending += loss
        self.pending_n += scored

    def read(self, epoch: int) -> float:
        """The mean loss since the last read, checked; it joins the segment's sum."""
        mean = _checked(float(self.pending) / self.pending_n, epoch)
        self.total, self.scored = self.total + mean * self.pending_n, self.scored + self.pending_n
        self.pending.zero_()
        self.pending_n = 0
        return mean


class Progress:
    """Where this rank is in the run (in epochs) and its clock: throughput, ETA, when a point is due.

    Elapsed time counts `before` too (the time behind a resumed checkpoint), so a run's elapsed
    seconds go on across Stop and Resume; throughput and ETA count this session's training.
    """

    def __init__(self, epochs: int, shard_tokens: int, before: float, first_epoch: int) -> None:
        self.epochs, self.shard_tokens, self.before, self.first_epoch = epochs, shard_tokens, before, first_epoch
        self.begin = self.last_point = time.perf_counter()
        self.epoch = first_epoch
        self.position = self.last_position = float(first_epoch)  # epochs of the run done: now, at the last point
        self.epoch_tokens = 0  # raw tokens of the epoch's segments begun so far
        self.base = self.weight = 0.0  # where the segment starts in the run and how much of an epoch it is
        self.segment_centers = self.segment_done = 0
        self.centers = self.steps = 0
        self.epochs_done = 0.0  # by this session
        self.ranks: list[float] = []  # every rank's tokens/s at the last sync of a data-parallel run

    def start_epoch(self, epoch: int) -> None:
        self.epoch, self.epoch_tokens = epoch, 0

    def start_segment(self, raw_tokens: int, centers: int) -> None:
        """The epoch's next segment: `raw_tokens` of this rank's shard, sampled into `centers` centers."""
        shard = max(self.shard_tokens, 1)
        self.base, self.weight = self.epoch + self.epoch_tokens / shard, raw_tokens / shard
        self.epoch_tokens += raw_tokens
        self.segment_centers, self.segment_done = centers, 0

    def span(self) -> tuple[float, float]:
        """Where the segment starts and ends in the run, 0..1: what the learning rate follows."""
        return self.base / self.epochs, (self.base + self.weight) / self.epochs

    def run_centers(self) -> int:
        """The run's centers, reckoned from the segment's."""
        return math.ceil(self.segment_centers * self.epochs / max(self.weight, 1e-9))

    def add(self, centers: int) -> None:
        """A step trained `centers` more of the segment's centers."""
        per = max(self.segment_centers, 1)
        self.steps += 1
        self.centers += centers
        self.epochs_done += self.weight * centers / per
        self.segment_done += centers
        self.position = self.base + self.weight * self.segment_done / per

    def elapsed(self) -> float:
        """This session's seconds."""
        return time.perf_counter() - self.begin

    def rate(self) -> float:
        """Raw tokens per second of this process."""
        return self.epochs_done * self.shard_tokens / max(self.elapsed(), 1e-9)

    def due(self) -> bool:
        return time.perf_counter() - self.last_point >= EVENT_INTERVAL_S

    def progressed(self) -> bool:
        """The run has gone 1/(2 * MIN_LOSS_POINTS) further since the last point."""
        return (self.position - self.last_position) * 2 * MIN_LOSS_POINTS >= self.epochs * (1 - 1e-9)

    def point(self, kind: Literal["step", "epoch"], loss: float) -> MetricRow:
        """The progress point here; an `epoch` point stands at the end of the epoch."""
        if kind == "epoch":
            self.position = self.epoch + 1.0
        self.last_point, self.last_position = time.perf_counter(), self.position
        elapsed = max(self.last_point - self.begin, 1e-9)
        rate = self.epochs_done / elapsed
        own_tokens_per_s = rate * self.shard_tokens
        centers_per_s = self.centers / elapsed
        if self.ranks and own_tokens_per_s > 0:  # this rank's centers, scaled to every rank's raw tokens
            centers_per_s *= sum(self.ranks) / own_tokens_per_s
        return MetricRow(
            kind=kind,
            epoch=self.epoch + 1,
            fraction=self.position / self.epochs,
            loss=loss,
            tokens_per_s=sum(self.ranks) if self.ranks else own_tokens_per_s,
            elapsed_s=self.before + elapsed,
            eta_s=(self.epochs - self.position) / rate if rate > 0 else float("inf"),
            time=time.time(),
            rank_tokens_per_s=tuple(self.ranks),
            centers_per_s=centers_per_s,
        )

    def outcome(self, stopped: bool, epoch_losses: list[float]) -> Outcome:
        elapsed = self.elapsed()
        epochs_run = len(epoch_losses) - self.first_epoch
        return Outcome(stopped, epoch_losses, elapsed, self.centers, epochs_run, self.steps, self.before + elapsed)
