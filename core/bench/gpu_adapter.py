"""Every call the GPU check makes into the fast mode's kernels and engine, in one place.

The check measures `core.engines.kernel_triton.train_slice` (the Triton kernel), compares it with
`core.engines.kernel_batched.train_in_flight` (the numba reference; one program is the exact
sequential order), asks `core.engines.fast_triton.in_flight_for` for the default concurrency
and sets a Trainer's engine's concurrency. If those names or signatures change, this module alone
changes with them. Each import is inside its function: Triton is loaded on the GPU path only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.data.sampling import EpochSample, NoiseTable


@dataclass(frozen=True)
class Problem:
    """One epoch sample and the noise tables, as the kernels take them (on one device, or as numpy arrays)."""

    ids: torch.Tensor
    sentence: torch.Tensor
    window: torch.Tensor
    max_window: int
    threshold: torch.Tensor
    alias: torch.Tensor

    @classmethod
    def of(cls, sample: EpochSample, noise: NoiseTable, device: torch.device) -> Problem:
        from core.engines.kernel_batched import noise_thresholds

        threshold = torch.as_tensor(noise_thresholds(noise.prob.cpu().numpy()))
        tensors = (sample.ids, sample.sentence, sample.window, threshold, noise.alias)
        ids, sentence, window, threshold, alias = (t.to(device) for t in tensors)
        return cls(ids.long(), sentence.long(), window, sample.max_window, threshold.long(), alias.long())

    def __len__(self) -> int:
        return self.ids.numel()


def gpu_slice(
    v: torch.Tensor,
    u: torch.Tensor,
    problem: Problem,
    k: int,
    seed: int,
    lrs: tuple[float, float],
    programs: int,
    span: tuple[int, int],
) -> torch.Tensor:
    """The Triton kernel on centers span[0]..span[1]-1 of the sample; a (2,) device tensor [loss sum, scored]."""
    from core.engines.kernel_triton import train_slice

    p = problem
    return train_slice(
        v, u, p.ids, p.sentence, p.window, p.max_window, p.threshold, p.alias, k, seed, *lrs, programs, *span
    )


def cpu_slice(
    v: np.ndarray,
    u: np.ndarray,
    problem: Problem,
    k: int,
    seed: int,
    lrs: tuple[float, float],
    programs: int,
    span: tuple[int, int],
) -> tuple[float, int]:
    """The numba reference on the same centers (tables as float32 numpy arrays); (loss sum, scored)."""
    from core.engines.kernel_batched import train_in_flight

    p = problem
    arrays = [t.cpu().numpy() for t in (p.ids, p.sentence, p.window, p.threshold, p.alias)]
    ids, sentence, window, threshold, alias = arrays
    return train_in_flight(v, u, ids, sentence, window, p.max_window, threshold, alias, k, seed, *lrs, programs, *span)


def default_programs(counts: np.ndarray, k: int, device: torch.device) -> int:
    """The engine's default centers in flight for a vocabulary with these counts (`<unk>` first, never drawn)."""
    from core.engines.fast_triton import in_flight_for

    return in_flight_for(NoiseTable(counts).effective_words, k, device)


def engine_programs(engine: object) -> int | None:
    """The centers in flight of a Trainer's engine (None for an engine without them, as the book mode's)."""
    return getattr(engine, "in_flight", None)


def set_engine_programs(engine: object, programs: int) -> None:
    engine.in_flight = programs  # type: ignore[attr-defined]
