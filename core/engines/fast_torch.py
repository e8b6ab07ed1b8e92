"""The fast mode on GPUs and other devices: word2vec's SGD as batched tensor operations.

Layout (as in Intel's pWord2Vec): for each center, its context words are the inputs (rows of `v`)
and they share one set of noise words; the targets (rows of `u`) are the center itself, labelled 1,
and the noise words, labelled 0. The learning rate decays linearly; gradients are written by hand.
On the CPU the same maths runs in compiled worker threads instead (core.engines.fast_cpu).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.data.sampling import EpochSample, NoiseTable, draw_noise
from core.engines.base import PlainSgd, StepEngine, learning_rate
from core.model import SkipGram


class FastEngine(StepEngine, PlainSgd):
    shuffles = False  # word2vec streams the corpus in order; a random order gains nothing here
    splittable = False  # a step is one batch of vectorised updates

    def __init__(self, model: SkipGram, lr: float, negatives: int, noise: NoiseTable, batch_size: int) -> None:
        super().__init__(model, lr, negatives, noise)
        self.chunk = batch_size

    def step(
        self, sample: EpochSample, start: int, stop: int, gen: torch.Generator, progress: tuple[float, float]
    ) -> torch.Tensor:
        """Train on centers start..stop-1; returns the sum of their book losses."""
        centers, contexts, noise = step_inputs(sample, start, stop, self.noise, self.negatives, gen)
        return sgd_step(self.v, self.u, centers, contexts, noise, learning_rate(self.lr, progress[0]))


def step_inputs(
    sample: EpochSample, start: int, stop: int, table: NoiseTable, negatives: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Centers start..stop-1, their contexts (-1 where none) and the noise words each center's contexts share."""
    centers = sample.ids[sample.centers(start, stop)].long()
    return centers, sample.contexts(start, stop), draw_noise(table, centers, negatives, gen)


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
