"""The book's training step: padded center batches, masked BCE loss, dense Adam.

The maths is the book's; it is fast because batches are built by tensor operations on the device
instead of a DataLoader over Python lists, and the gradients of the two embedding tables are
written out by hand and scattered with `index_add_` (equal to autograd's, see the tests).
"""

from __future__ import annotations

import torch

from core.data.sampling import EpochSample, NoiseTable, draw_noise
from core.distributed import GradientMean, Replicas
from core.engines.base import StepEngine
from core.loss import center_loss
from core.model import SkipGram


class BookEngine(StepEngine):
    shuffles = True
    splittable = False  # a step is one minibatch of the optimiser

    def __init__(self, model: SkipGram, lr: float, negatives: int, noise: NoiseTable, batch_size: int) -> None:
        self.model = model
        self.params = [model.embed_v.weight, model.embed_u.weight]
        fused = model.embed_v.weight.device.type in ("cpu", "cuda")
        self.optimizer = torch.optim.Adam(self.params, lr=lr, fused=fused)
        self.on_cpu = model.embed_v.weight.device.type == "cpu"
        if self.on_cpu:
            for param in self.params:
                param.grad = torch.zeros_like(param)
        self.negatives = negatives
        self.noise = noise
        self.chunk = batch_size

    def step(
        self, sample: EpochSample, start: int, stop: int, gen: torch.Generator, progress: tuple[float, float]
    ) -> torch.Tensor:
        """One Adam step on centers start..stop-1; returns the sum of their book losses."""
        del progress  # Adam keeps its learning rate fixed, as in the book
        center, slots, mask, label = book_batch(sample, start, stop, self.noise, self.negatives, gen)
        with torch.no_grad():
            if self.on_cpu:
                loss = self._cpu_gradients(center, slots, mask, label)
            else:
                loss, grad_v, grad_u = book_gradients(self.params[0], self.params[1], center, slots, mask, label)
                self.params[0].grad, self.params[1].grad = grad_v, grad_u
            self.optimizer.step()
        return loss.sum()

    def _cpu_gradients(
        self, center: torch.Tensor, slots: torch.Tensor, mask: torch.Tensor, label: torch.Tensor
    ) -> torch.Tensor:
        from core.engines.kernel_numba import book_gradients_cpu

        arrays = [t.numpy() for t in (*self.params, center, slots, mask, label)]
        grads = [p.grad.numpy() for p in self.params]
        return torch.from_numpy(book_gradients_cpu(*arrays, *grads))

    def replicate(self, replicas: Replicas) -> None:
        """Average the gradients over the ranks before every Adam step."""
        self.optimizer = GradientMean(self.optimizer, replicas)

    def state(self) -> dict[str, torch.Tensor]:
        tensors = {}
        for i, param in enumerate(self.params):
            for key, value in self.optimizer.state.get(param, {}).items():
                tensors[f"adam.{i}.{key}"] = value.reshape(-1) if key == "step" else value
        return tensors

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        for i, param in enumerate(self.params):
            state = {k.split(".")[2]: v for k, v in tensors.items() if k.startswith(f"adam.{i}.")}
            if state:
                state["step"] = state["step"].reshape(())
                self.optimizer.state[param] = state


def book_gradients(
    v: torch.Tensor,
    u: torch.Tensor,
    center: torch.Tensor,
    slots: torch.Tensor,
    mask: torch.Tensor,
    label: torch.Tensor,
    out: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-center book losses and the gradients of their sum with respect to the `v` and `u` tables.

    The gradients are written into `out` when given (a captured CUDA graph needs fixed addresses).
    """
    vc, us = v[center], u[slots]
    pred = torch.einsum("bd,bsd->bs", vc, us)
    loss = center_loss(pred, label, mask)
    g = (torch.sigmoid(pred) - label) * mask / mask.sum(dim=1, keepdim=True)
    grad_v, grad_u = (t.zero_() for t in out) if out else (torch.zeros_like(v), torch.zeros_like(u))
    grad_v.index_add_(0, center, torch.einsum("bs,bsd->bd", g, us))
    grad_u.index_add_(0, slots.flatten(), (g.unsqueeze(-1) * vc.unsqueeze(1)).flatten(0, 1))
    return loss, grad_v, grad_u


def book_batch(
    sample: EpochSample, start: int, stop: int, noise: NoiseTable, negatives: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The book's batch: center, [contexts | noise words] padded to one width, mask, label."""
    contexts = sample.contexts(start, stop)
    real = contexts >= 0
    contexts = contexts.clamp(min=0)
    slots = torch.cat([contexts, draw_noise(noise, contexts, negatives, gen).flatten(1)], dim=1)
    mask = torch.cat([real, real.repeat_interleave(negatives, dim=1)], dim=1).to(torch.float32)
    label = torch.zeros_like(mask)
    label[:, : contexts.shape[1]] = 1.0
    return sample.ids[sample.centers(start, stop)].long(), slots, mask, label
