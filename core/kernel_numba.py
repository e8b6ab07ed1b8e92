"""Compiled CPU kernel of the fast mode: word2vec's SGD updates, Hogwild across threads.

Each thread takes a contiguous block of centers and updates the shared tables without locks,
as word2vec.c and gensim do; with one thread the result is deterministic.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def sgd_centers(v, u, centers, contexts, noise, lr_from, lr_to, blocks):
    """Update `v` and `u` in place for each center; return each center's mean slot loss.

    v, u: (vocab, d) float32; centers: (n,); contexts: (n, 2W) with -1 for no context;
    noise: (n, K) noise words shared by a center's contexts. The learning rate moves linearly
    from lr_from to lr_to across the n centers.
    """
    n = centers.shape[0]
    d = v.shape[1]
    k = noise.shape[1]
    losses = np.zeros(n, dtype=np.float32)
    for b in numba.prange(blocks):
        grad = np.empty(d, dtype=np.float32)
        for i in range(b * n // blocks, (b + 1) * n // blocks):
            lr = np.float32(lr_from + (lr_to - lr_from) * i / n)
            total = 0.0
            slots = 0
            for j in range(contexts.shape[1]):
                word = contexts[i, j]
                if word < 0:
                    continue
                grad[:] = 0.0
                for s in range(k + 1):
                    target = centers[i] if s == 0 else noise[i, s - 1]
                    dot = np.float32(0.0)
                    for x in range(d):
                        dot += v[word, x] * u[target, x]
                    sign = 1.0 if s == 0 else -1.0
                    # -log sigmoid(sign * dot), computed stably
                    z = -sign * dot
                    total += max(z, 0.0) + math.log1p(math.exp(-abs(z)))
                    g = np.float32(lr * ((1.0 if s == 0 else 0.0) - 1.0 / (1.0 + math.exp(-dot))))
                    for x in range(d):
                        grad[x] += g * u[target, x]
                        u[target, x] += g * v[word, x]
                    slots += 1
                for x in range(d):
                    v[word, x] += grad[x]
            if slots:
                losses[i] = total / slots
    return losses


@numba.njit(fastmath=True, cache=True, nogil=True)
def book_gradients_cpu(v, u, center, slots, mask, label, grad_v, grad_u):
    """The book mode's per-center losses; fills `grad_v`, `grad_u` with the gradients of their sum.

    One thread, so the result is deterministic; it replaces a dozen tensor operations whose
    dispatch and scatter costs dominate at the book's batch of 512 centers.
    """
    grad_v[:] = 0.0
    grad_u[:] = 0.0
    batch, width = slots.shape
    d = v.shape[1]
    losses = np.zeros(batch, dtype=np.float32)
    for b in range(batch):
        c = center[b]
        real = 0.0
        for s in range(width):
            real += mask[b, s]
        total = 0.0
        for s in range(width):
            if mask[b, s] == 0.0:
                continue
            t = slots[b, s]
            dot = np.float32(0.0)
            for x in range(d):
                dot += v[c, x] * u[t, x]
            y = label[b, s]
            total += max(dot, 0.0) - dot * y + math.log1p(math.exp(-abs(dot)))
            g = np.float32((1.0 / (1.0 + math.exp(-dot)) - y) / real)
            for x in range(d):
                grad_v[c, x] += g * u[t, x]
                grad_u[t, x] += g * v[c, x]
        losses[b] = total / real
    return losses


def warm_up() -> None:
    """Load (or, the first time, compile) both kernels for the dtypes training uses, before any clock starts."""
    table = np.zeros((2, 2), dtype=np.float32)
    ids = np.zeros(1, dtype=np.int64)
    pairs = np.zeros((1, 1), dtype=np.int64)
    sgd_centers(table, table.copy(), ids, pairs - 1, pairs, 0.0, 0.0, 1)
    mask = np.ones((1, 1), dtype=np.float32)
    book_gradients_cpu(table, table, ids, pairs, mask, mask, table.copy(), table.copy())
