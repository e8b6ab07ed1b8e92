"""The fast mode: plain SGD with word2vec's linearly decaying learning rate and hand-written gradients.

Layout (as in Intel's pWord2Vec): for each center, its context words are the inputs (rows of `v`)
and they share one set of noise words; the targets (rows of `u`) are the center itself, labelled 1,
and the noise words, labelled 0. On the CPU a compiled kernel applies the updates pair by pair
(Hogwild across threads); on other devices the same maths runs as batched tensor operations.
"""

from __future__ import annotations

import os
import threading

import torch
import torch.nn.functional as F

from core.model import SkipGram
from core.sampling import EpochSample, NoiseTable, draw_noise

MIN_LR_FRACTION = 1e-4
NUMBA_CHUNK = 16_384
# numba's fallback threading layer (workqueue) must not run two parallel kernels at once, and
# trainings in several threads (the app) would do so; chunks are short, so jobs simply alternate.
_KERNEL_LOCK = threading.Lock()


class FastEngine:
    shuffles = False  # word2vec streams the corpus in order; a random order gains nothing here

    def __init__(
        self,
        model: SkipGram,
        lr: float,
        negatives: int,
        noise: NoiseTable,
        batch_size: int,
        kernel: str,
        threads: int = 0,
    ) -> None:
        self.v = model.embed_v.weight.data
        self.u = model.embed_u.weight.data
        self.lr = lr
        self.negatives = negatives
        self.noise = noise
        self.kernel = kernel
        self.threads = threads or os.cpu_count() or 1
        self.chunk = NUMBA_CHUNK if kernel == "numba" else batch_size

    def step(
        self, sample: EpochSample, start: int, stop: int, gen: torch.Generator, progress: tuple[float, float]
    ) -> torch.Tensor:
        """Train on centers start..stop-1; returns the sum of their book losses."""
        contexts = sample.contexts(start, stop)
        centers = sample.ids[sample.centers(start, stop)].long()
        noise = draw_noise(self.noise, centers, self.negatives, gen)
        lr_from, lr_to = (self.lr * max(MIN_LR_FRACTION, 1.0 - p) for p in progress)
        if self.kernel == "torch":
            return sgd_step(self.v, self.u, centers, contexts, noise, lr_from)
        from core.kernel_numba import sgd_centers

        arrays = (t.numpy() for t in (self.v, self.u, centers, contexts, noise))
        with _KERNEL_LOCK:
            losses = sgd_centers(*arrays, lr_from, lr_to, self.threads)
        return torch.from_numpy(losses).sum()

    def state(self) -> dict[str, torch.Tensor]:
        return {}

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        del tensors  # plain SGD keeps no state beyond the weights


def sgd_step(
    v: torch.Tensor, u: torch.Tensor, centers: torch.Tensor, contexts: torch.Tensor, noise: torch.Tensor, lr: float
) -> torch.Tensor:
    """One batched SGD step in place; returns the sum over centers of their mean slot loss."""
    real = contexts >= 0
    inputs = contexts.clamp(min=0)
    targets = torch.cat([centers.unsqueeze(1), noise], dim=1)
    x, t = v[inputs], u[targets]
    scores = torch.bmm(x, t.transpose(1, 2))
    label = torch.zeros_like(scores[0, 0])
    label[0] = 1.0
    weight = real.unsqueeze(-1).to(scores.dtype)
    grad = (label - torch.sigmoid(scores)) * weight
    slot_loss = F.binary_cross_entropy_with_logits(scores, label.expand_as(scores), reduction="none")
    center_loss = (slot_loss * weight).sum(dim=(1, 2)) / (real.sum(dim=1) * targets.shape[1])
    # Padding rows carry zero gradient, so they are added too: no boolean indexing, no GPU sync.
    v.index_add_(0, inputs.flatten(), torch.bmm(grad, t).flatten(0, 1), alpha=lr)
    u.index_add_(0, targets.flatten(), torch.bmm(grad.transpose(1, 2), x).flatten(0, 1), alpha=lr)
    return center_loss.sum()
