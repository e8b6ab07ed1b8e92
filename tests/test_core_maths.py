"""The loss against the book's hand-worked example; hand-written gradients against autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.engines.book import book_gradients
from core.engines.fast_torch import sgd_step
from core.engines.kernel_numba import book_gradients_cpu, sgd_centers
from core.loss import center_loss
from core.model import SkipGram


def test_book_masked_loss_example() -> None:
    pred = torch.tensor([[1.1, -2.2, 3.3, -4.4]] * 2)
    label = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
    np.testing.assert_allclose(center_loss(pred, label, mask).numpy(), [0.9352, 1.8462], atol=1e-4)


def test_model_scores_are_dot_products() -> None:
    model = SkipGram(10, 4)
    center, slots = torch.tensor([3, 7]), torch.tensor([[1, 2, 9], [0, 5, 5]])
    expected = torch.einsum("bd,bsd->bs", model.embed_v.weight[center], model.embed_u.weight[slots])
    torch.testing.assert_close(model(center, slots).squeeze(1), expected)


@pytest.mark.parametrize("kernel", ["torch", "numba"])
def test_book_gradients_equal_autograd(kernel: str) -> None:
    torch.manual_seed(0)
    model = SkipGram(12, 6)
    center = torch.tensor([1, 4, 4, 7])
    slots = torch.randint(0, 12, (4, 9))
    mask = (torch.rand(4, 9) < 0.7).float()
    mask[:, 0] = 1
    label = torch.zeros(4, 9)
    label[:, :3] = 1
    loss = center_loss(model(center, slots).reshape(label.shape), label, mask)
    loss.sum().backward()
    with torch.no_grad():
        v, u = model.embed_v.weight, model.embed_u.weight
        if kernel == "torch":
            ours, grad_v, grad_u = book_gradients(v, u, center, slots, mask, label)
        else:
            grad_v, grad_u = torch.full_like(v, 7.0), torch.full_like(u, 7.0)  # stale values must be cleared
            arrays = (t.numpy() for t in (v, u, center, slots, mask, label, grad_v, grad_u))
            ours = torch.from_numpy(book_gradients_cpu(*arrays))
    torch.testing.assert_close(ours, loss.detach())
    torch.testing.assert_close(grad_v, model.embed_v.weight.grad)
    torch.testing.assert_close(grad_u, model.embed_u.weight.grad)


def fast_case() -> tuple[torch.Tensor, ...]:
    torch.manual_seed(1)
    v, u = torch.randn(15, 8) * 0.3, torch.randn(15, 8) * 0.3
    centers = torch.tensor([2, 5, 9])
    contexts = torch.tensor([[1, 3, -1, 4], [-1, 6, 7, -1], [10, -1, -1, 11]])
    noise = torch.tensor([[12, 13], [14, 8], [0, 1]])
    return v, u, centers, contexts, noise


def test_fast_gradients_equal_autograd() -> None:
    v, u, centers, contexts, noise = fast_case()
    v_leaf, u_leaf = v.clone().requires_grad_(), u.clone().requires_grad_()
    real = contexts >= 0
    targets = torch.cat([centers.unsqueeze(1), noise], dim=1)
    scores = torch.einsum("bcd,btd->bct", v_leaf[contexts.clamp(min=0)], u_leaf[targets])
    label = torch.zeros_like(scores)
    label[..., 0] = 1
    slot = F.binary_cross_entropy_with_logits(scores, label, reduction="none") * real.unsqueeze(-1)
    slot.sum().backward()
    lr = 0.1
    expected_loss = (slot.sum(dim=(1, 2)) / (real.sum(1) * targets.shape[1])).sum()
    loss = sgd_step(v, u, centers, contexts, noise, lr)
    torch.testing.assert_close(loss, expected_loss.detach())
    torch.testing.assert_close(v, v_leaf.detach() - lr * v_leaf.grad)
    torch.testing.assert_close(u, u_leaf.detach() - lr * u_leaf.grad)


@pytest.mark.parametrize("center, context", [(2, 1), (9, 11)])
def test_compiled_kernel_equals_batched_step_on_one_pair(center: int, context: int) -> None:
    """With one input word and distinct targets, word2vec's sequential update equals the batched one."""
    v, u, _, _, _ = fast_case()
    centers, contexts, noise = torch.tensor([center]), torch.tensor([[context, -1]]), torch.tensor([[12, 13, 14]])
    v2, u2 = v.clone(), u.clone()
    expected = sgd_step(v, u, centers, contexts, noise, 0.05)
    losses = sgd_centers(v2.numpy(), u2.numpy(), centers.numpy(), contexts.numpy(), noise.numpy(), 0.05, 0.05)
    np.testing.assert_allclose(losses.sum(), float(expected), rtol=1e-5)
    torch.testing.assert_close(v2, v, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(u2, u, rtol=1e-5, atol=1e-6)


def test_compiled_kernel_reports_mean_slot_loss_and_leaves_weights_at_zero_lr() -> None:
    v, u, centers, contexts, noise = fast_case()
    frozen_v, frozen_u = v.clone(), u.clone()
    losses = sgd_centers(v.numpy(), u.numpy(), centers.numpy(), contexts.numpy(), noise.numpy(), 0.0, 0.0)
    torch.testing.assert_close(v, frozen_v)
    torch.testing.assert_close(u, frozen_u)
    scores = torch.einsum("bcd,btd->bct", v[contexts.clamp(min=0)], u[torch.cat([centers[:, None], noise], 1)])
    label = torch.zeros_like(scores)
    label[..., 0] = 1
    real = (contexts >= 0).unsqueeze(-1)
    slot = F.binary_cross_entropy_with_logits(scores, label, reduction="none") * real
    np.testing.assert_allclose(losses, (slot.sum((1, 2)) / (real.sum((1, 2)) * 3)).numpy(), rtol=1e-5)
