"""Training loop: epochs of freshly sampled data, progress events, stop flag, checkpoints, resume."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import torch

from core.config import TrainConfig
from core.device import set_threads
from core.engine_book import BookEngine
from core.engine_fast import FastEngine
from core.model import SkipGram
from core.sampling import EpochSample, NoiseTable, epoch_generator, keep_probabilities, sample_epoch, sentence_index
from core.vocab import Vocab

EVENT_INTERVAL_S = 0.2
DIVERGED_LOSS = 50.0


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


Callback = Callable[[TrainEvent], None]


class Engine(Protocol):
    chunk: int  # centers per step
    shuffles: bool  # visit centers in random order rather than corpus order

    def step(
        self, sample: EpochSample, start: int, stop: int, gen: torch.Generator, progress: tuple[float, float]
    ) -> torch.Tensor: ...

    def state(self) -> dict[str, torch.Tensor]: ...

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None: ...


@dataclass
class Prepared:
    """A corpus encoded for training on one device."""

    vocab: Vocab
    ids: torch.Tensor
    sentence: torch.Tensor
    raw_tokens: int

    @classmethod
    def build(cls, sentences: list[list[str]], min_freq: int, device: torch.device) -> Prepared:
        vocab = Vocab.build(sentences, min_freq)
        ids, offsets = vocab.encode(sentences)
        return cls(vocab, torch.as_tensor(ids, device=device), sentence_index(offsets, device), len(ids))


@dataclass
class Outcome:
    """How `Trainer.train` ended; `epoch_losses` covers every epoch done, resumed ones included."""

    stopped: bool
    epoch_losses: list[float]
    train_seconds: float
    centers: int
    epochs_run: int


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        data: Prepared,
        callbacks: Sequence[Callback] = (),
        stop: threading.Event | None = None,
        checkpoint: Callable[[int, dict[str, torch.Tensor], list[float]], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.data = data
        self.device = data.ids.device
        self.callbacks = list(callbacks)
        self.stop = stop or threading.Event()
        self.checkpoint = checkpoint
        set_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.model = SkipGram(len(data.vocab), cfg.embed_size).to(self.device)
        self.keep = keep_probabilities(data.vocab.counts, cfg.subsample).to(self.device)
        self.engine = make_engine(cfg, self.model, NoiseTable(data.vocab.counts).to(self.device))
        self.epoch_losses: list[float] = []

    def restore(self, tensors: dict[str, torch.Tensor], epoch_losses: list[float]) -> None:
        """Continue from a checkpoint written after `len(epoch_losses)` epochs."""
        with torch.no_grad():
            self.model.embed_v.weight.copy_(tensors["center"])
            self.model.embed_u.weight.copy_(tensors["context"])
        self.engine.load_state({k: v.to(self.device) for k, v in tensors.items()})
        self.epoch_losses = list(epoch_losses)

    def state(self) -> dict[str, torch.Tensor]:
        return {"center": self.model.embed_v.weight, "context": self.model.embed_u.weight, **self.engine.state()}

    def train(self) -> Outcome:
        start_epoch = len(self.epoch_losses)
        clock = _Clock(self.cfg.epochs, self.data.raw_tokens)
        for epoch in range(start_epoch, self.cfg.epochs):
            loss = self._epoch(epoch, clock)
            if loss is None:
                return Outcome(True, self.epoch_losses, clock.elapsed(), clock.centers, epoch - start_epoch)
            self.epoch_losses.append(loss)
            if self.checkpoint:
                self.checkpoint(epoch + 1, self.state(), self.epoch_losses)
            self._emit(clock.event("epoch", epoch, epoch + 1.0, loss))
        return Outcome(False, self.epoch_losses, clock.elapsed(), clock.centers, self.cfg.epochs - start_epoch)

    def _epoch(self, epoch: int, clock: _Clock) -> float | None:
        """Train one epoch; its mean book loss, or None if the stop flag was raised."""
        gen = epoch_generator(self.cfg.seed, epoch, self.device)
        sample = sample_epoch(self.data.ids, self.data.sentence, self.keep, self.cfg.max_window, gen)
        if self.engine.shuffles:
            sample.shuffle(gen)
        n = len(sample)
        total, pending, pending_n = 0.0, torch.zeros((), device=self.device), 0
        for steps, start in enumerate(range(0, n, self.engine.chunk), 1):
            if self.stop.is_set():
                return None
            stop = min(start + self.engine.chunk, n)
            span = ((epoch + start / n) / self.cfg.epochs, (epoch + stop / n) / self.cfg.epochs)
            pending += self._step(sample, start, stop, gen, span)
            pending_n += stop - start
            clock.add(stop - start, (stop - start) / n)
            # Reading the loss back syncs a GPU, so it happens only every `log_every` steps there.
            may_sync = self.device.type == "cpu" or steps % self.cfg.log_every == 0
            if stop == n or (may_sync and clock.due()):
                mean = _checked(float(pending) / pending_n, epoch)
                total += mean * pending_n
                pending.zero_()
                pending_n = 0
                self._emit(clock.event("step", epoch, epoch + stop / n, mean))
        return total / max(n, 1)

    def _step(
        self, sample: EpochSample, start: int, stop: int, gen: torch.Generator, span: tuple[float, float]
    ) -> torch.Tensor:
        try:
            return self.engine.step(sample, start, stop, gen, span)
        except torch.OutOfMemoryError as exc:
            smaller = max(1, self.cfg.batch_size // 2)
            raise TrainingError(
                f"the {self.device.type} device ran out of memory at batch_size={self.cfg.batch_size}; "
                f"resume the run with batch_size={smaller} (it continues from its last finished epoch)"
            ) from exc

    def _emit(self, event: TrainEvent) -> None:
        for callback in self.callbacks:
            callback(event)


def make_engine(cfg: TrainConfig, model: SkipGram, noise: NoiseTable) -> Engine:
    on_cpu = model.embed_v.weight.device.type == "cpu"
    if on_cpu:
        from core.kernel_numba import warm_up

        warm_up()  # load the compiled kernels now rather than inside the first timed step
    if cfg.mode == "book":
        return BookEngine(model, cfg.lr, cfg.negatives, noise, cfg.batch_size)
    kernel = "numba" if on_cpu else "torch"
    return FastEngine(model, cfg.sgd_lr, cfg.negatives, noise, cfg.batch_size, kernel, cfg.threads)


def _checked(loss: float, epoch: int) -> float:
    if not math.isfinite(loss) or loss > DIVERGED_LOSS:
        raise TrainingError(
            f"the loss became {loss:.4g} in epoch {epoch + 1}: training diverged. "
            "Lower the learning rate (lr for the book mode, sgd_lr for the fast mode) and start again"
        )
    return loss


class _Clock:
    """Throughput and ETA for the epochs this session trains."""

    def __init__(self, epochs: int, raw_tokens: int) -> None:
        self.epochs = epochs
        self.raw_tokens = raw_tokens
        self.begin = time.perf_counter()
        self.last_event = self.begin
        self.centers = 0
        self.epochs_done = 0.0

    def add(self, centers: int, epoch_fraction: float) -> None:
        self.centers += centers
        self.epochs_done += epoch_fraction

    def elapsed(self) -> float:
        return time.perf_counter() - self.begin

    def due(self) -> bool:
        return time.perf_counter() - self.last_event >= EVENT_INTERVAL_S

    def event(self, kind: Literal["step", "epoch"], epoch: int, position: float, loss: float) -> TrainEvent:
        self.last_event = time.perf_counter()
        elapsed = max(self.elapsed(), 1e-9)
        remaining = self.epochs - position
        rate = self.epochs_done / elapsed
        return TrainEvent(
            kind=kind,
            epoch=epoch + 1,
            epochs=self.epochs,
            fraction=position / self.epochs,
            loss=loss,
            tokens_per_s=self.epochs_done * self.raw_tokens / elapsed,
            centers_per_s=self.centers / elapsed,
            elapsed_s=elapsed,
            eta_s=remaining / rate if rate > 0 else float("inf"),
        )
