"""Training loop: epochs of freshly sampled data, progress events, stop flag, checkpoints, resume."""

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
from core.data.prepared import Prepared, Segment
from core.data.sampling import NoiseTable, epoch_generator, keep_probabilities, sample_epoch
from core.device import set_threads
from core.distributed import Replicas, World
from core.engines import make_engine
from core.model import SkipGram

EVENT_INTERVAL_S = 0.2
MIN_LOSS_POINTS = 50  # step events a run reports at least, however small: one each 1/100 of its centers
DIVERGED_LOSS = 50.0
RANK_SEED_STRIDE = 1 << 32  # ranks draw from different streams: rank r uses seed + r * stride


class TrainingError(RuntimeError):
    """Training cannot go on (the loss became NaN or infinite, or diverged)."""


@dataclass(frozen=True)
class TrainEvent:
    """What a callback receives; `kind` is `step` during an epoch and `epoch` at its end."""

    kind: Literal["step", "epoch"]
    epoch: int
    epochs: int
    fraction: float
    loss: float
    tokens_per_s: float
    centers_per_s: float
    elapsed_s: float
    eta_s: float
    rank_tokens_per_s: tuple[float, ...] = ()  # each rank's speed at the last sync, in data-parallel runs


Callback = Callable[[TrainEvent], None]


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
        checkpoint: Callable[[int, dict[str, torch.Tensor], list[float], float], None] | None = None,
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
        self.model = SkipGram(len(data.vocab), cfg.embed_size).to(self.device)
        self.keep = keep_probabilities(data.vocab.counts, cfg.subsample).to(self.device)
        noise = NoiseTable(data.vocab.counts).to(self.device)
        self.engine = make_engine(cfg, self.model, noise, threads, lockstep=self.world.size > 1)
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
        start_epoch = len(self.epoch_losses)
        shard = sum(stop - start for start, stop in self.data.shards(self.world.size)[self.world.rank])
        clock = _Clock(self.cfg.epochs, shard, self.seconds_before, start_epoch)
        if self.replicas:
            self.replicas.reset()
        for epoch in range(start_epoch, self.cfg.epochs):
            loss = self._epoch(epoch, clock, shard)
            if loss is None:
                return clock.outcome(True, self.epoch_losses, epoch - start_epoch)
            self.epoch_losses.append(loss)
            event = clock.event("epoch", epoch, epoch + 1.0, loss)
            if self.checkpoint:  # a resume starts its clock where this epoch's row ends, so no row goes back
                self.checkpoint(epoch + 1, self.state(), self.epoch_losses, event.elapsed_s)
            self._emit(event)
        return clock.outcome(False, self.epoch_losses, self.cfg.epochs - start_epoch)

    def _epoch(self, epoch: int, clock: _Clock, shard: int) -> float | None:
        """Train one epoch on this rank's segments; the mean book loss over all ranks, or None if stopped."""
        seed = self.cfg.seed + self.world.rank * RANK_SEED_STRIDE
        gen = epoch_generator(seed, epoch, self.device)
        total, scored, done = 0.0, 0, 0
        for segment in self.data.segments(self.world.rank, self.world.size):
            placed = (epoch + done / max(shard, 1), segment.raw_tokens / max(shard, 1))
            result = self._segment(segment, placed, epoch, gen, clock)
            if result is None:
                return None
            total, scored, done = total + result[0], scored + result[1], done + segment.raw_tokens
        if self.replicas:
            total, scored = self.replicas.total([total, scored])
        return _checked(total / max(scored, 1), epoch)

    def _segment(
        self, segment: Segment, placed: tuple[float, float], epoch: int, gen: torch.Generator, clock: _Clock
    ) -> tuple[float, int] | None:
        """Train on one segment, which starts `placed[0]` epochs in and spans `placed[1]` of an epoch.

        Returns the sum of the scored centers' losses and their number, or None if the stop flag was raised.
        """
        if self._stopping():
            return None
        sample = sample_epoch(segment.ids, segment.sentence, self.keep, self.cfg.max_window, gen)
        if self.engine.shuffles:
            sample.shuffle(gen)
        n, (base, weight) = len(sample), placed
        span = (base / self.cfg.epochs, (base + weight) / self.cfg.epochs)
        bounds = self._bounds(n, math.ceil(n * self.cfg.epochs / max(weight, 1e-9)))
        total, scored, done = 0.0, 0, 0
        pending, pending_n = torch.zeros((), device=self.device), 0
        with closing(self.engine.run(sample, bounds, span, gen)) as steps, self._out_of_memory():
            for step, (centers, loss, count) in enumerate(steps, 1):
                pending += loss
                pending_n, done = pending_n + count, done + centers
                clock.add(centers, weight * centers / max(n, 1))
                last = step == len(bounds)
                if self.replicas and (last or step % self.cfg.sync_every == 0):
                    self.agreed_stop, clock.ranks = self.replicas.sync(self.stop.is_set(), clock.rate())
                # Reading the loss back syncs a GPU, so it happens only every `log_every` steps there.
                may_sync = self.device.type == "cpu" or step % self.cfg.log_every == 0
                position = base + weight * done / max(n, 1)
                # Progress points in a data-parallel run wait for the first sync, which brings every rank's speed.
                progressed = clock.progressed(position) and (clock.ranks or not self.replicas)
                if pending_n and (last or (may_sync and clock.due()) or progressed):
                    mean = _checked(float(pending) / pending_n, epoch)
                    total, scored = total + mean * pending_n, scored + pending_n
                    pending.zero_()
                    pending_n = 0
                    self._emit(clock.event("step", epoch, position, mean))
                if not last and self._stopping():
                    return None
        return total, scored

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

    def _stopping(self) -> bool:
        """Alone, the stop flag; in a group, what the ranks agreed at the last sync (all stop at one step)."""
        return self.agreed_stop if self.replicas else self.stop.is_set()

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

    def _emit(self, event: TrainEvent) -> None:
        for callback in self.callbacks:
            callback(event)


def _checked(loss: float, epoch: int) -> float:
    if not math.isfinite(loss) or loss > DIVERGED_LOSS:
        raise TrainingError(
            f"the loss became {loss:.4g} in epoch {epoch + 1}: training diverged. "
            "Lower the learning rate (lr for the book mode, sgd_lr for the fast mode) and start again"
        )
    return loss


class _Clock:
    """Throughput and ETA for the epochs this session trains; elapsed time counts `before` too (the time
    behind a resumed checkpoint), so a run's elapsed seconds go on across Stop and Resume."""

    def __init__(self, epochs: int, raw_tokens: int, before: float = 0.0, position: float = 0.0) -> None:
        self.epochs = epochs
        self.raw_tokens = raw_tokens
        self.before = before
        self.begin = time.perf_counter()
        self.last_event = self.begin
        self.last_position = position  # epochs done at the last event
        self.centers = 0
        self.steps = 0
        self.epochs_done = 0.0
        self.ranks: list[float] = []  # every rank's tokens/s at the last sync of a data-parallel run

    def add(self, centers: int, epoch_fraction: float) -> None:
        self.steps += 1
        self.centers += centers
        self.epochs_done += epoch_fraction

    def elapsed(self) -> float:
        """This session's seconds."""
        return time.perf_counter() - self.begin

    def total(self) -> float:
        """The run's seconds: those before the resume and this session's."""
        return self.before + self.elapsed()

    def outcome(self, stopped: bool, epoch_losses: list[float], epochs_run: int) -> Outcome:
        elapsed = self.elapsed()
        return Outcome(
            stopped, epoch_losses, elapsed, self.centers, epochs_run, self.steps, total_seconds=self.before + elapsed
        )

    def rate(self) -> float:
        """Raw tokens per second of this process."""
        return self.epochs_done * self.raw_tokens / max(self.elapsed(), 1e-9)

    def due(self) -> bool:
        return time.perf_counter() - self.last_event >= EVENT_INTERVAL_S

    def progressed(self, position: float) -> bool:
        """The run has gone 1/(2 * MIN_LOSS_POINTS) further since the last event (`position` in epochs)."""
        return (position - self.last_position) * 2 * MIN_LOSS_POINTS >= self.epochs * (1 - 1e-9)

    def event(self, kind: Literal["step", "epoch"], epoch: int, position: float, loss: float) -> TrainEvent:
        self.last_event = time.perf_counter()
        self.last_position = position
        elapsed = max(self.elapsed(), 1e-9)
        remaining = self.epochs - position
        rate = self.epochs_done / elapsed
        return TrainEvent(
            kind=kind,
            epoch=epoch + 1,
            epochs=self.epochs,
            fraction=position / self.epochs,
            loss=loss,
            tokens_per_s=sum(self.ranks) if self.ranks else self.epochs_done * self.raw_tokens / elapsed,
            centers_per_s=self.centers / elapsed,
            elapsed_s=self.before + elapsed,
            eta_s=remaining / rate if rate > 0 else float("inf"),
            rank_tokens_per_s=tuple(self.ranks),
        )
