"""Compiled CPU kernels: the fast mode's SGD updates and the book mode's gradients.

All of them run in the calling thread and release the GIL, so several Python threads can apply
updates to the shared tables at once, without locks, as word2vec.c and gensim do (Hogwild).
None of them is `parallel=True`: no thread pool of numba's (or OpenMP's) waits at a barrier or
spins, which is what made training collapse when other programs shared the cores.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from core.engines.kernel_batched import noise_thresholds, noise_word

LOSS_EVERY = 8  # training scores the loss of every 8th center: it costs a third of the time when done for all


@numba.njit(fastmath=True, cache=True, nogil=True, inline="always")
def _center_update(v, u, center, contexts, noise, lr, grad, score):
    """Word2vec's updates for one center: each context word (a row of `v`) against the center
    (label 1) and the shared noise words (label 0). Returns (sum of slot losses, number of slots);
    the losses only if `score`, else 0."""
    d = v.shape[1]
    k = noise.shape[0]
    total = 0.0
    slots = 0
    for j in range(contexts.shape[0]):
        word = contexts[j]
        if word < 0:
            continue
        grad[:] = 0.0
        for s in range(k + 1):
            target = center if s == 0 else noise[s - 1]
            dot = np.float32(0.0)
            for x in range(d):
                dot += v[word, x] * u[target, x]
            if score:
                z = -dot if s == 0 else dot  # the slot's loss -log sigmoid(-z), computed stably
                total += max(z, 0.0) + math.log1p(math.exp(-abs(z)))
            g = np.float32(lr * ((1.0 if s == 0 else 0.0) - 1.0 / (1.0 + math.exp(-dot))))
            for x in range(d):
                grad[x] += g * u[target, x]
                u[target, x] += g * v[word, x]
            slots += 1
        for x in range(d):
            v[word, x] += grad[x]
    return total, slots


@numba.njit(fastmath=True, cache=True, nogil=True)
def sgd_centers(v, u, centers, contexts, noise, lr_from, lr_to, loss_every=1, first=0):
    """Update `v` and `u` in place for each center in turn; return each center's mean slot loss.

    v, u: (vocab, d) float32; centers: (n,); contexts: (n, 2W) with -1 for no context;
    noise: (n, K). The learning rate moves linearly from lr_from to lr_to across the n centers
    (rates come from core.engines.base.learning_rate).
    The loss is scored for the centers whose place in the sample (`first` + i) is a multiple of
    `loss_every`; the others get -1.
    """
    n = centers.shape[0]
    losses = np.full(n, -1.0, dtype=np.float32)
    grad = np.empty(v.shape[1], dtype=np.float32)
    for i in range(n):
        lr = np.float32(lr_from + (lr_to - lr_from) * i / n)
        score = (first + i) % loss_every == 0
        total, slots = _center_update(v, u, centers[i], contexts[i], noise[i], lr, grad, score)
        if score:
            losses[i] = total / slots if slots else 0.0
    return losses


@numba.njit(cache=True, nogil=True)
def draw_chunk_noise(centers, first, threshold, alias, seed, out):
    """Fill `out` (n, K) with the noise words of the centers at sample positions first..first+n-1.

    The counter-based generator of `core.engines.kernel_batched` makes each word a function of the seed and the
    center's place in the sample, so a chunk draws the same words whichever thread (or GPU program) trains it.
    """
    k = out.shape[1]
    for i in range(out.shape[0]):
        for s in range(k):
            out[i, s] = noise_word(seed, first + i, s, centers[i], k, threshold, alias)


@numba.njit(cache=True, nogil=True)
def chunk_contexts(ids, sentence, window, start, stop, max_window, out):
    """Fill `out` (stop-start, 2W) with the context ids of centers start..stop-1, -1 where none.

    Column j holds the token at offset -W..-1, 1..W; a context must lie within the center's
    drawn window and in its sentence.
    """
    n = ids.shape[0]
    for i in range(start, stop):
        row = out[i - start]
        for j in range(2 * max_window):
            offset = j - max_window if j < max_window else j - max_window + 1
            q = i + offset
            inside = 0 <= q < n and abs(offset) <= window[i] and sentence[q] == sentence[i]
            row[j] = ids[q] if inside else -1


@numba.njit(fastmath=True, cache=True, nogil=True)
def train_chunk(v, u, ids, sentence, window, start, stop, max_window, threshold, alias, k, lr_from, lr_to, seed):
    """Train on centers start..stop-1 of an epoch's sample of n = len(ids) tokens.

    The learning rate at center i is lr_from + (lr_to - lr_from) * i / n, so it depends on the
    center's place in the sample, not on which thread trains it (rates come from
    core.engines.base.learning_rate, for the sample's first and past-the-last center). Returns the sum of the scored
    centers' mean slot losses (every LOSS_EVERY-th center of the sample) and their number.
    """
    contexts = np.empty((stop - start, 2 * max_window), dtype=np.int64)
    noise = np.empty((stop - start, k), dtype=np.int64)
    centers = ids[start:stop]
    chunk_contexts(ids, sentence, window, start, stop, max_window, contexts)
    draw_chunk_noise(centers, start, threshold, alias, seed, noise)
    n = ids.shape[0]
    first = lr_from + (lr_to - lr_from) * start / n
    last = lr_from + (lr_to - lr_from) * stop / n
    losses = sgd_centers(v, u, centers, contexts, noise, first, last, LOSS_EVERY, start)
    scored = losses >= 0
    return losses[scored].astype(np.float64).sum(), scored.sum()


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


def warm_up(mode: str) -> None:
    """Load (or, the first time, compile) the kernel of `mode` for the dtypes training passes, before any clock."""
    table = np.zeros((3, 2), dtype=np.float32)
    ids = np.array([1, 2], dtype=np.int64)
    if mode == "fast":
        threshold, alias = noise_thresholds(np.ones(3)), np.arange(3, dtype=np.int64)
        sentence, window = np.zeros(2, dtype=np.int64), np.ones(2, dtype=np.int16)
        train_chunk(table, table.copy(), ids, sentence, window, 0, 2, 1, threshold, alias, 1, 0.0, 0.0, 1)
    else:
        slots, mask = np.zeros((1, 1), dtype=np.int64), np.ones((1, 1), dtype=np.float32)
        book_gradients_cpu(table, table, ids[:1], slots, mask, mask, table.copy(), table.copy())
