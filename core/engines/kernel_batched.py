"""The fast mode's per-center batched update, its counter-based noise, and P centers in flight emulated on the CPU.

The GPU kernel (`core.engines.kernel_triton.train_slice`) trains P centers at once, each program walking its
own stretch of the epoch and adding its changes to the shared tables with atomics. `train_in_flight` runs the
same maths in the same order and granularity on one CPU thread: round-robin over the programs, each applies
its previous center's changes and then reads its next center, so every read misses exactly the other
programs' pending changes. That measures the quality cost of concurrency before a GPU is at hand; with one
program it is the exact sequential reference.

Noise words come from a counter-based generator, a pure function of (seed, sample position, slot, attempt),
so any kernel, on any device and in any order, draws the same words for the same center (the CPU kernel of
`core.engines.kernel_numba` uses it too).
"""

from __future__ import annotations

import math

import numba
import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
MIX_2 = np.uint64(0x94D049BB133111EB)
MAX_REDRAWS = 64  # attempts at a noise word other than the center before taking a neighbour id
UNIT_BITS = 53  # a keep test compares the top 53 bits of a random number with the column's threshold


def noise_thresholds(prob: np.ndarray) -> np.ndarray:
    """The alias table's keep probabilities as integers: column c keeps itself when the top 53 bits of a
    random number are below threshold[c] (an integer compare that numba and Triton make alike)."""
    return np.floor(np.asarray(prob, dtype=np.float64) * 2.0**UNIT_BITS).astype(np.int64)


@numba.njit(cache=True, nogil=True, inline="always")
def _mix(z):
    """splitmix64's finaliser."""
    z = z ^ (z >> np.uint64(30))
    z = z * MIX_1
    z = z ^ (z >> np.uint64(27))
    z = z * MIX_2
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, nogil=True, inline="always")
def noise_word(seed, place, slot, center, k, threshold, alias):
    """Noise word `slot` (0..k-1) of the center at sample position `place`: ∝ the alias table, never `center`."""
    columns = threshold.shape[0]
    base = (np.uint64(place) * np.uint64(k) + np.uint64(slot)) * np.uint64(MAX_REDRAWS)
    word = np.int64(center)
    for attempt in range(MAX_REDRAWS):
        key = np.uint64(seed) + GOLDEN * (np.uint64(1) + np.uint64(2) * (base + np.uint64(attempt)))
        column = np.int64(_mix(key) % np.uint64(columns))
        kept = np.int64(_mix(key + GOLDEN) >> np.uint64(64 - UNIT_BITS)) < threshold[column]
        word = column if kept else np.int64(alias[column])
        if word != center:
            return word
    return word % (columns - 1) + 1  # a near-certain word drawn every time: its neighbour id


@numba.njit(cache=True, nogil=True)
def stretch_bounds(n, programs, step_from, step_to):
    """Each program's [first, stop) sample positions for the step [step_from, step_to) of an n-center epoch.

    Program p owns the stretch [p*n//P, (p+1)*n//P) of length L_p and trains its local indices
    [step_from*L_p//n, step_to*L_p//n): the steps of an epoch cover every stretch once, in order.
    """
    p = np.arange(programs, dtype=np.int64)
    start = p * n // programs
    length = (p + 1) * n // programs - start
    if n == 0:
        return start, start.copy()
    return start + step_from * length // n, start + step_to * length // n


@numba.njit(fastmath=True, cache=True, nogil=True, inline="always")
def _read_center(v, u, ids, sentence, window, place, max_window, threshold, alias, k, seed, lr, ctx, tgt, g, dv, du):
    """Read center `place`'s rows and compute its changes into `dv` (contexts) and `du` (targets).

    Fills ctx[:C] with its context ids in offset order, tgt with the center and its k noise words, and
    returns (C, mean slot loss); C = 0 means no change. Nothing is written to `v` or `u`.
    """
    n = ids.shape[0]
    d = v.shape[1]
    c = 0
    for j in range(2 * max_window):
        offset = j - max_window if j < max_window else j - max_window + 1
        q = place + offset
        if 0 <= q < n and abs(offset) <= window[place] and sentence[q] == sentence[place]:
            ctx[c] = ids[q]
            c += 1
    if c == 0:
        return 0, 0.0
    center = ids[place]
    tgt[0] = center
    for s in range(k):
        tgt[s + 1] = noise_word(seed, place, s, center, k, threshold, alias)
    loss = 0.0
    for j in range(c):
        for s in range(k + 1):
            dot = np.float32(0.0)
            for x in range(d):
                dot += v[ctx[j], x] * u[tgt[s], x]
            z = -dot if s == 0 else dot  # the slot's loss softplus(z), computed stably
            loss += max(z, 0.0) + math.log1p(math.exp(-abs(z)))
            g[j, s] = np.float32(lr * ((1.0 if s == 0 else 0.0) - 1.0 / (1.0 + math.exp(-dot))))
    for j in range(c):
        for x in range(d):
            acc = np.float32(0.0)
            for s in range(k + 1):
                acc += g[j, s] * u[tgt[s], x]
            dv[j, x] = acc
    for s in range(k + 1):
        for x in range(d):
            acc = np.float32(0.0)
            for j in range(c):
                acc += g[j, s] * v[ctx[j], x]
            du[s, x] = acc
    return c, loss / (c * (k + 1))


@numba.njit(fastmath=True, cache=True, nogil=True, inline="always")
def _apply(v, u, ctx, c, tgt, dv, du):
    """Add a center's changes: each context row and, if it had any context, each target row (plain adds)."""
    if c == 0:
        return
    d = v.shape[1]
    for j in range(c):
        for x in range(d):
            v[ctx[j], x] += dv[j, x]
    for s in range(tgt.shape[0]):
        for x in range(d):
            u[tgt[s], x] += du[s, x]


@numba.njit(fastmath=True, cache=True, nogil=True)
def train_in_flight(
    v, u, ids, sentence, window, max_window, threshold, alias, k, seed, lr_from, lr_to, programs, step_from, step_to
):
    """Train the step [step_from, step_to) of an epoch's sample as `programs` centers in flight would.

    Each tick, program p = 0..P-1 in turn applies its previous center's changes, then reads its next center
    and computes that one's changes (held until its next turn); the changes still held are applied at the
    end. The k-th center of program p's stretch of length L_p trains at lr_from + (lr_to - lr_from) * k / L_p
    (rates from core.engines.base.learning_rate, at the epoch's first center and past its last).
    Returns (sum of the scored centers' mean slot losses, centers scored): every center with a context.
    """
    n = ids.shape[0]
    d = v.shape[1]
    width = 2 * max_window
    first, stop = stretch_bounds(n, programs, step_from, step_to)
    ctx = np.zeros((programs, width), dtype=np.int64)
    tgt = np.zeros((programs, k + 1), dtype=np.int64)
    held = np.zeros(programs, dtype=np.int64)  # contexts of the change program p holds; 0: none
    dv = np.zeros((programs, width, d), dtype=np.float32)
    du = np.zeros((programs, k + 1, d), dtype=np.float32)
    g = np.zeros((width, k + 1), dtype=np.float32)
    total, scored = 0.0, 0
    ticks = (stop - first).max() if programs > 0 else 0
    for tick in range(ticks):
        for p in range(programs):
            _apply(v, u, ctx[p], held[p], tgt[p], dv[p], du[p])
            held[p] = 0
            place = first[p] + tick
            if place >= stop[p]:
                continue
            start = p * n // programs
            lr = lr_from + (lr_to - lr_from) * (place - start) / ((p + 1) * n // programs - start)
            c, loss = _read_center(
                v, u, ids, sentence, window, place, max_window, threshold, alias, k, seed, lr,
                ctx[p], tgt[p], g, dv[p], du[p],
            )  # fmt: skip
            held[p] = c
            if c > 0:
                total += loss
                scored += 1
    for p in range(programs):
        _apply(v, u, ctx[p], held[p], tgt[p], dv[p], du[p])
    return total, scored
