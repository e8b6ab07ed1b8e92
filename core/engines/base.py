"""What the trainer asks of an engine, and the adapter for engines that train in explicit steps.

An engine trains one epoch's sample through `run`, which yields once per step (the trainer's
`bounds`): how many centers were trained since the last yield, the sum of the losses it scored
among them and how many it scored (all, or a sample where scoring costs much). The
trainer reports, checks the stop flag and merges replicas between yields; closing the iterator
stops the engine. In a data-parallel run the engine joins the ranks' `Replicas` through `replicate`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

import torch

from core.data.sampling import EpochSample, NoiseTable
from core.distributed import Replicas
from core.model import SkipGram

MIN_LR_FRACTION = 1e-4  # the fast mode's learning rate decays linearly to this fraction of its start
Steps = tuple[int, torch.Tensor, int]  # (centers trained, sum of the scored centers' losses, centers scored)
Step = Callable[[EpochSample, int, int, torch.Generator, tuple[float, float]], torch.Tensor]


def learning_rate(start: float, progress: float) -> float:
    """The fast mode's rate at `progress` (0..1) of the run: linear from `start`, never below MIN_LR_FRACTION of it."""
    return start * max(MIN_LR_FRACTION, 1.0 - progress)


def learning_rates(start: float, span: tuple[float, float]) -> tuple[float, float]:
    """The rates where `span` (a stretch of the run, 0..1) begins and ends."""
    return learning_rate(start, span[0]), learning_rate(start, span[1])


class Engine(Protocol):
    chunk: int  # centers per step
    shuffles: bool  # visit centers in random order rather than corpus order
    splittable: bool  # steps may be any size without changing the training (not minibatches)

    def run(
        self, sample: EpochSample, bounds: list[tuple[int, int]], span: tuple[float, float], gen: torch.Generator
    ) -> Iterator[Steps]:
        """Train the centers of `bounds`; `span` is where the sample starts and ends in the training (0..1)."""
        ...

    def state(self) -> dict[str, torch.Tensor]: ...

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None: ...

    def replicate(self, replicas: Replicas) -> None:
        """Keep this engine's weights equal to the other ranks' through `replicas` from now on."""
        ...


def stepwise(
    step: Step, sample: EpochSample, bounds: list[tuple[int, int]], span: tuple[float, float], gen: torch.Generator
) -> Iterator[Steps]:
    """`run` for an engine whose `step(sample, start, stop, gen, progress)` trains one step in the caller's thread."""
    first, last = span
    per = max(len(sample), 1)
    for start, stop in bounds:
        progress = (first + (last - first) * start / per, first + (last - first) * stop / per)
        yield stop - start, step(sample, start, stop, gen, progress), stop - start


class StepEngine:
    """Base of the engines that train one step at a time in the caller's thread, through their `step`."""

    step: Step

    def run(
        self, sample: EpochSample, bounds: list[tuple[int, int]], span: tuple[float, float], gen: torch.Generator
    ) -> Iterator[Steps]:
        return stepwise(self.step, sample, bounds, span, gen)


class PlainSgd:
    """Plain SGD keeps no state beyond the weights, and its replicas merge those at each sync."""

    tables: tuple[torch.Tensor, ...]  # the weights it updates in place

    def __init__(self, model: SkipGram, lr: float, negatives: int, noise: NoiseTable) -> None:
        self.v = model.embed_v.weight.data
        self.u = model.embed_u.weight.data
        self.tables = (self.v, self.u)
        self.lr = lr
        self.negatives = negatives
        self.noise = noise

    def replicate(self, replicas: Replicas) -> None:
        replicas.share(*self.tables)

    def state(self) -> dict[str, torch.Tensor]:
        return {}

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        del tensors
