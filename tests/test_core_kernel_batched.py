"""The per-center batched update, the counter-based noise and the emulation of centers in flight."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from core.data.sampling import NoiseTable
from core.engines.kernel_batched import noise_thresholds, noise_word, stretch_bounds, train_in_flight
from core.engines.kernel_numba import draw_chunk_noise

K = 2
W = 2


def _corpus(n: int, vocab: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, n).astype(np.int64)
    sentence = np.repeat(np.arange(n // 7 + 1), 7)[:n].astype(np.int64)
    window = rng.integers(1, W + 1, n).astype(np.int16)
    return ids, sentence, window


def _tables(vocab: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return tuple(rng.normal(0, 0.5, (vocab, d)).astype(np.float32) for _ in range(2))


def _noise(vocab: int) -> tuple[np.ndarray, np.ndarray]:
    table = NoiseTable(np.arange(vocab) + 3)
    return noise_thresholds(table.prob.numpy()), table.alias.numpy()


def _change(v, u, ids, sentence, window, place, threshold, alias, seed, lr):
    """The spec's maths for one center, written plainly with numpy: (context ids, dv, target ids, du)."""
    n = len(ids)
    near = [place + o for o in range(-W, W + 1) if o != 0 and abs(o) <= window[place] and 0 <= place + o < n]
    ctx = [ids[q] for q in near if sentence[q] == sentence[place]]
    tgt = [ids[place]] + [noise_word(seed, place, s, ids[place], K, threshold, alias) for s in range(K)]
    if not ctx:
        return ctx, None, tgt, None
    x, t = v[ctx].astype(np.float64), u[tgt].astype(np.float64)
    labels = np.zeros((len(ctx), K + 1))
    labels[:, 0] = 1.0
    g = lr * (labels - 1 / (1 + np.exp(-(x @ t.T))))
    return ctx, g @ t, tgt, g.T @ x


def _add(v, u, change) -> None:
    ctx, dv, tgt, du = change
    if dv is None:
        return
    for j, word in enumerate(ctx):
        v[word] += dv[j]
    for s, word in enumerate(tgt):
        u[word] += du[s]


def test_one_center_by_hand() -> None:
    """d = 2, K = 1, one context: every noise draw lands on word 2 (columns 0 and 1 alias to it)."""
    v = np.zeros((3, 2), dtype=np.float32)
    u = np.zeros((3, 2), dtype=np.float32)
    v[2] = (0.5, -1.0)
    u[1] = (2.0, 1.0)  # center: score 0.5*2 - 1*1 = 0
    u[2] = (2.0, 0.0)  # noise: score 1
    ids, sentence, window = np.array([1, 2]), np.zeros(2, dtype=np.int64), np.ones(2, dtype=np.int16)
    threshold, alias = np.array([0, 0, 2**53], dtype=np.int64), np.array([2, 2, 2], dtype=np.int64)
    total, scored = train_in_flight(v, u, ids, sentence, window, 1, threshold, alias, 1, 5, 0.1, 0.1, 1, 0, 1)
    g0, g1 = 0.1 * 0.5, -0.1 / (1 + math.exp(-1))  # lr * (1 - sigmoid(0)), lr * (0 - sigmoid(1))
    assert scored == 1
    assert total == pytest.approx((math.log(2) + math.log1p(math.e)) / 2, rel=1e-6)
    np.testing.assert_allclose(v[2], (0.5 + g0 * 2 + g1 * 2, -1.0 + g0 * 1), rtol=1e-6)
    np.testing.assert_allclose(u[1], (2.0 + g0 * 0.5, 1.0 - g0), rtol=1e-6)
    np.testing.assert_allclose(u[2], (2.0 + g1 * 0.5, -g1), rtol=1e-6)
    np.testing.assert_array_equal(v[:2], 0.0)


@pytest.mark.parametrize(("step_from", "step_to"), [(0, 60), (17, 41)])
def test_one_program_is_the_sequential_loop(step_from: int, step_to: int) -> None:
    ids, sentence, window = _corpus(60, 9, 0)
    threshold, alias = _noise(9)
    v, u = _tables(9, 4, 1)
    v2, u2 = v.astype(np.float64), u.astype(np.float64)
    args = (ids, sentence, window, W, threshold, alias, K, 3, 0.2, 0.1)
    total, scored = train_in_flight(v, u, *args, 1, step_from, step_to)
    expected = 0.0
    for place in range(step_from, step_to):
        change = _change(v2, u2, ids, sentence, window, place, threshold, alias, 3, 0.2 - 0.1 * place / 60)
        if change[1] is not None:
            x, t = v2[change[0]], u2[change[2]]
            scores = (x @ t.T) * np.where(np.arange(K + 1) == 0, -1, 1)
            expected += np.logaddexp(0, scores).mean()
        _add(v2, u2, change)
    assert scored > 0
    assert total == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(v, v2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(u, u2, rtol=1e-5, atol=1e-6)


def test_two_programs_each_read_misses_the_others_held_change() -> None:
    """P = 2 on 4 centers: program 0 trains 0, 1 and program 1 trains 2, 3, one tick each, in this order."""
    ids = np.array([1, 2, 3, 4], dtype=np.int64)
    sentence, window = np.zeros(4, dtype=np.int64), np.full(4, W, dtype=np.int16)
    threshold, alias = _noise(6)
    v, u = _tables(6, 3, 2)
    v2, u2 = v.astype(np.float64), u.astype(np.float64)
    args = (ids, sentence, window)
    lr = {0: 0.2, 1: 0.15, 2: 0.2, 3: 0.15}  # k-th center of a stretch of 2: 0.2 + (0.1 - 0.2) * k / 2
    a0 = _change(v2, u2, *args, 0, threshold, alias, 4, lr[0])
    b0 = _change(v2, u2, *args, 2, threshold, alias, 4, lr[2])  # misses a0, held by program 0
    _add(v2, u2, a0)
    a1 = _change(v2, u2, *args, 1, threshold, alias, 4, lr[1])  # misses b0
    _add(v2, u2, b0)
    b1 = _change(v2, u2, *args, 3, threshold, alias, 4, lr[3])  # misses a1
    _add(v2, u2, a1)
    _add(v2, u2, b1)
    sequential = v.copy(), u.copy()
    train_in_flight(*sequential, *args, W, threshold, alias, K, 4, 0.2, 0.1, 1, 0, 4)
    train_in_flight(v, u, *args, W, threshold, alias, K, 4, 0.2, 0.1, 2, 0, 4)
    np.testing.assert_allclose(v, v2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(u, u2, rtol=1e-5, atol=1e-6)
    assert not np.allclose(v, sequential[0], rtol=1e-5, atol=1e-6)  # the order matters: the case tests something


def test_noise_follows_the_table_and_never_equals_the_center() -> None:
    counts = np.array([0, 400, 300, 200, 100, 10])
    table = NoiseTable(counts)
    threshold, alias = noise_thresholds(table.prob.numpy()), table.alias.numpy()
    draws = 40_000
    noise = np.empty((draws // 4, 4), dtype=np.int64)
    draw_chunk_noise(np.full(draws // 4, 1, dtype=np.int64), 0, threshold, alias, 11, noise)
    assert not (noise == 1).any() and not (noise == 0).any()
    weights = counts[2:] ** 0.75
    expected = draws * weights / weights.sum()
    observed = np.bincount(noise.ravel(), minlength=6)[2:]
    assert ((observed - expected) ** 2 / expected).sum() < 20.5  # chi-square, 3 degrees of freedom: p < 1e-4
    assert noise[3, 2] == noise_word(11, 3, 2, 1, 4, threshold, alias)  # the place, not the chunk, decides
    shifted = np.empty((5, 4), dtype=np.int64)
    draw_chunk_noise(np.full(5, 1, dtype=np.int64), 3, threshold, alias, 11, shifted)
    np.testing.assert_array_equal(shifted, noise[3:8])


def test_a_near_certain_center_still_gets_other_noise_words() -> None:
    table = NoiseTable(np.array([0, 10**9, 1, 1]))  # word 1 is almost always drawn
    threshold, alias = noise_thresholds(table.prob.numpy()), table.alias.numpy()
    words = {noise_word(0, place, 0, 1, 1, threshold, alias) for place in range(200)}
    assert words and 1 not in words and words <= {2, 3}


@pytest.mark.parametrize("programs", [1, 3, 7, 40])
def test_steps_cover_every_stretch_once_in_order(programs: int) -> None:
    n = 103
    for step in (1, 5, 17, 103):
        marks = [*range(0, n, step), n]
        firsts, stops = zip(*(stretch_bounds(n, programs, a, b) for a, b in itertools.pairwise(marks)), strict=True)
        firsts, stops = np.array(firsts), np.array(stops)
        np.testing.assert_array_equal(firsts[1:], stops[:-1])  # each step starts where the last stopped
        np.testing.assert_array_equal(firsts[0], np.arange(programs) * n // programs)  # an epoch/P apart
        np.testing.assert_array_equal(stops[-1], (np.arange(programs) + 1) * n // programs)
