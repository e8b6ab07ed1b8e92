"""The fast mode on a CUDA GPU: the CPU kernel's per-center SGD, applied by one Triton kernel per chunk.

Each step hands a whole chunk of centers (a PTB epoch is one chunk) to `core.engines.kernel_triton`, where
`in_flight` programs each walk their own stretch of it. The update is per center, as on the CPU:
`batch_size` (the book mode's centers per Adam step) plays no part, so no batch size can scale an
update or make the run diverge.
"""

from __future__ import annotations

import importlib.util

import torch

from core.data.sampling import EpochSample, NoiseTable
from core.engines.base import PlainSgd, StepEngine, learning_rates
from core.engines.fast_torch import step_inputs
from core.model import SkipGram

GPU_CHUNK = 1 << 22  # centers per launch; bounds the chunk's (n, 2W) context matrix to about 340 MB
IN_FLIGHT_PER_SM = 2  # programs (one warp, one center each) per multiprocessor: the concurrency/quality lever


def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def default_in_flight(device: torch.device) -> int:
    """Centers in flight: IN_FLIGHT_PER_SM per multiprocessor on CUDA; one (deterministic) elsewhere."""
    if device.type != "cuda":
        return 1
    return IN_FLIGHT_PER_SM * torch.cuda.get_device_properties(device).multi_processor_count


class GpuFastEngine(StepEngine, PlainSgd):
    shuffles = False  # word2vec streams the corpus in order; each program walks its own stretch of it
    splittable = True  # steps are launches only: any size trains the same per-center SGD

    def __init__(self, model: SkipGram, lr: float, negatives: int, noise: NoiseTable, in_flight: int = 0) -> None:
        from core.engines.kernel_triton import sgd_centers  # Triton is needed on this path only

        self.kernel = sgd_centers
        super().__init__(model, lr, negatives, noise)
        self.in_flight = in_flight or default_in_flight(self.v.device)
        self.chunk = GPU_CHUNK

    def step(
        self, sample: EpochSample, start: int, stop: int, gen: torch.Generator, progress: tuple[float, float]
    ) -> torch.Tensor:
        """Train on centers start..stop-1 in one launch; returns the sum of their losses (no host sync)."""
        centers, contexts, noise = step_inputs(sample, start, stop, self.noise, self.negatives, gen)
        lr_from, lr_to = learning_rates(self.lr, progress)
        return self.kernel(self.v, self.u, centers, contexts, noise, lr_from, lr_to, self.in_flight).sum()
