"""Compiled GPU kernel of the fast mode (Triton): the CPU kernel's maths, many centers in flight.

The maths is `core.engines.kernel_numba.sgd_centers`: for each center, each of its context words (a row
of `v`) is scored against the center (label 1) and the center's K noise words (label 0, shared by
all its contexts) in `u`; plain SGD with word2vec's hand-written gradients.

Scheduling, the part that decides quality on a GPU:
- `workers` programs run at once (one warp each, one center in flight each). Program p walks its
  own contiguous stretch of the chunk, p * n / workers up to (p + 1) * n / workers, as the
  threads of word2vec.c each walk their own part of the file: centers trained together are far
  apart in the corpus, so they rarely share context words.
- Rows that everyone shares (the center's and the noise words' output vectors, frequent words)
  are updated with relaxed atomic adds, so concurrent updates of one row add up instead of
  overwriting each other (a plain read-modify-write loses all but one of them).
- The learning rate of a program's k-th center is the chunk's linear schedule at k / stretch, so
  all programs decay together, as word2vec.c's shared alpha does. With one program this is the
  CPU kernel's schedule exactly.
- Within one context word the K + 1 targets are scored at once (a 2-D tile); the CPU kernel visits
  them one after another. They differ only if a noise word is drawn twice for one center: the
  CPU kernel's second visit then sees the first one's update, the tile does not.

Triton is imported here and nowhere else, and this module only on the CUDA path (or in tests
under TRITON_INTERPRET=1), so a CPU-only install never needs Triton.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit(do_not_specialize=["n", "dim"])
def _sgd_centers(
    v,
    u,
    centers,
    contexts,
    noise,
    losses,
    n,
    lr_from,
    lr_to,
    dim,
    WIDTH: tl.constexpr,
    K: tl.constexpr,
    BLOCK_T: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    pid = tl.program_id(0).to(tl.int64)
    workers = tl.num_programs(0).to(tl.int64)
    total_n = n.to(tl.int64)
    first = pid * total_n // workers
    last = (pid + 1) * total_n // workers
    span = tl.maximum(last - first, 1).to(tl.float32)
    cols = tl.arange(0, BLOCK_D)
    col_ok = cols < dim
    rows = tl.arange(0, BLOCK_T)
    row_ok = rows < K + 1
    tile_ok = row_ok[:, None] & col_ok[None, :]
    label = (rows == 0).to(tl.float32)
    for i in range(first, last):
        lr = lr_from + (lr_to - lr_from) * ((i - first).to(tl.float32) / span)
        center = tl.load(centers + i).to(tl.int64)
        drawn = tl.load(noise + i * K + rows - 1, mask=(rows >= 1) & row_ok, other=0).to(tl.int64)
        targets = tl.where(rows == 0, center, drawn)
        tile = u + targets[:, None] * dim + cols[None, :]
        total = tl.zeros([BLOCK_T], dtype=tl.float32)
        slots = tl.zeros([BLOCK_T], dtype=tl.float32)
        for j in range(WIDTH):
            word = tl.load(contexts + i * WIDTH + j).to(tl.int64)
            if word >= 0:
                row = v + word * dim + cols
                x = tl.load(row, mask=col_ok, other=0.0, cache_modifier=".cg")
                t = tl.load(tile, mask=tile_ok, other=0.0, cache_modifier=".cg")
                dot = tl.sum(t * x[None, :], axis=1)
                z = tl.where(rows == 0, -dot, dot)  # each slot's loss is -log sigmoid(-z), computed stably
                slot_loss = tl.maximum(z, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(z)))
                total += tl.where(row_ok, slot_loss, 0.0)
                slots += row_ok.to(tl.float32)
                g = tl.where(row_ok, lr * (label - tl.sigmoid(dot)), 0.0)
                grad = tl.sum(g[:, None] * t, axis=0)
                tl.atomic_add(tile, g[:, None] * x[None, :], mask=tile_ok, sem="relaxed")
                tl.atomic_add(row, grad, mask=col_ok, sem="relaxed")
        tl.store(losses + i, tl.sum(total, axis=0) / tl.maximum(tl.sum(slots, axis=0), 1.0))


def sgd_centers(
    v: torch.Tensor,
    u: torch.Tensor,
    centers: torch.Tensor,
    contexts: torch.Tensor,
    noise: torch.Tensor,
    lr_from: float,
    lr_to: float,
    workers: int,
) -> torch.Tensor:
    """Update `v` and `u` in place for each center with `workers` programs; each center's mean slot loss.

    Shapes and meaning as `core.engines.kernel_numba.sgd_centers`; `workers` is the number of centers in flight.
    The rates lr_from and lr_to come from core.engines.base.learning_rate.
    """
    n = centers.numel()
    losses = torch.zeros(n, dtype=torch.float32, device=v.device)
    if n == 0:
        return losses
    k = noise.shape[1]
    block_t, block_d = triton.next_power_of_2(k + 1), triton.next_power_of_2(v.shape[1])
    grid = (max(1, min(workers, n)),)
    _sgd_centers[grid](
        v,
        u,
        centers.contiguous(),
        contexts.contiguous(),
        noise.contiguous(),
        losses,
        n,
        float(lr_from),
        float(lr_to),
        v.shape[1],
        WIDTH=contexts.shape[1],
        K=k,
        BLOCK_T=block_t,
        BLOCK_D=block_d,
        num_warps=1 if block_t * block_d <= 2048 else 4,
    )
    return losses
