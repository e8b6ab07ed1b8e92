"""Sampling statistics: subsampling keep rates, windows, sentence boundaries, noise distribution."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from core.data.sampling import (
    NoiseTable,
    _redraw_without_sync,
    draw_noise,
    epoch_generator,
    keep_probabilities,
    sample_epoch,
    sentence_index,
)

CPU = torch.device("cpu")


def corpus(lengths: list[int], vocab: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    ids = torch.as_tensor(rng.integers(1, vocab, sum(lengths)))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return ids, sentence_index(offsets, CPU)


def test_keep_probability_formula() -> None:
    counts = np.array([50, 1000, 100, 1])
    keep = keep_probabilities(counts, 1e-2).numpy()
    freq = counts[1:] / counts[1:].sum()
    assert keep[0] == 0.0
    np.testing.assert_allclose(keep[1:], np.minimum(1, np.sqrt(1e-2 / freq)))
    assert keep_probabilities(counts, 0.0)[1:].eq(1).all()


def test_subsampling_keep_rates_match_formula() -> None:
    counts = np.array([0, 40_000, 5_000, 1_000, 200])
    ids = torch.as_tensor(np.repeat(np.arange(5), counts))
    ids = ids[torch.randperm(len(ids), generator=torch.Generator().manual_seed(1))]
    sentence = torch.zeros_like(ids)  # one long sentence: nothing is dropped as alone
    keep = keep_probabilities(counts, 1e-3)
    sample = sample_epoch(ids, sentence, keep, 5, epoch_generator(0, 0, CPU))
    kept = np.bincount(sample.ids.numpy(), minlength=5)
    for word in range(1, 5):
        p = float(keep[word])
        sd = np.sqrt(counts[word] * p * (1 - p))
        assert abs(kept[word] - counts[word] * p) <= 4 * sd + 1, (word, kept[word], counts[word] * p)


def test_unknown_words_are_dropped() -> None:
    ids = torch.tensor([0, 1, 0, 2, 0, 3])
    keep = keep_probabilities(np.ones(4), 0.0)
    sample = sample_epoch(ids, torch.zeros_like(ids), keep, 2, epoch_generator(0, 0, CPU))
    assert sample.ids.tolist() == [1, 2, 3]


def test_no_context_crosses_a_sentence() -> None:
    lengths = [1, 2, 7, 3, 15, 1, 4]
    ids, sentence = corpus(lengths, vocab=50)
    sample = sample_epoch(ids, sentence, keep_probabilities(np.ones(50), 0.0), 5, epoch_generator(3, 0, CPU))
    contexts = sample.contexts(0, len(sample))
    positions = torch.arange(len(sample)).unsqueeze(1) + torch.cat([torch.arange(-5, 0), torch.arange(1, 6)])
    real = contexts >= 0
    assert real.any(dim=1).all(), "every kept center has a context"
    source_sentence = sample.sentence[positions.clamp(0, len(sample) - 1)]
    assert (source_sentence[real] == sample.sentence.unsqueeze(1).expand_as(positions)[real]).all()
    assert not (sample.sentence == 0).any(), "a one-word sentence yields no center"


def test_contexts_follow_window_sizes() -> None:
    ids, sentence = corpus([40], vocab=30)
    sample = sample_epoch(ids, sentence, keep_probabilities(np.ones(30), 0.0), 4, epoch_generator(0, 0, CPU))
    contexts = sample.contexts(0, len(sample))
    offsets = torch.cat([torch.arange(-4, 0), torch.arange(1, 5)])
    for i in range(len(sample)):
        expected = [
            int(sample.ids[i + o]) for o in offsets.tolist() if abs(o) <= sample.window[i] and 0 <= i + o < len(sample)
        ]
        assert [c for c in contexts[i].tolist() if c >= 0] == expected


def test_window_sizes_uniform_one_to_max() -> None:
    ids, sentence = corpus([100] * 400, vocab=100)
    sample = sample_epoch(ids, sentence, keep_probabilities(np.ones(100), 0.0), 5, epoch_generator(0, 0, CPU))
    observed = np.bincount(sample.window.numpy(), minlength=6)[1:]
    assert observed.sum() == 40_000
    assert stats.chisquare(observed).pvalue > 1e-3


def test_noise_frequencies_follow_count_power() -> None:
    counts = np.array([999, 5000, 1200, 300, 40, 7])
    table = NoiseTable(counts)
    positives = torch.zeros(200_000, dtype=torch.long)  # never a real word: nothing is rejected
    noise = draw_noise(table, positives, 1, torch.Generator().manual_seed(0)).flatten()
    observed = np.bincount(noise.numpy(), minlength=6)
    assert observed[0] == 0, "<unk> is never a noise word"
    weights = counts[1:] ** 0.75
    expected = weights / weights.sum() * len(noise)
    assert stats.chisquare(observed[1:], expected).pvalue > 1e-3


def test_alias_table_encodes_the_distribution_exactly() -> None:
    counts = np.array([10, 7, 1, 300, 2, 2, 90])
    table = NoiseTable(counts)
    prob, alias = table.prob.numpy(), table.alias.numpy()
    implied = (prob + np.bincount(alias, weights=1 - prob, minlength=len(prob))) / len(prob)
    weights = counts**0.75
    weights[0] = 0
    np.testing.assert_allclose(implied, weights / weights.sum(), atol=1e-12)


def test_effective_words_is_one_over_the_collision_probability() -> None:
    assert NoiseTable(np.array([50, 7, 7, 7, 7])).effective_words == pytest.approx(4.0)  # 4 equal words
    assert NoiseTable(np.array([3, 16, 1])).effective_words == pytest.approx(81 / 65)  # p = 8/9, 1/9


def test_noise_never_equals_its_positive() -> None:
    positives = torch.randint(1, 4, (5000, 3))
    noise = draw_noise(NoiseTable(np.array([0, 100, 100, 100])), positives, 5, torch.Generator().manual_seed(0))
    assert noise.shape == (5000, 3, 5)
    assert not (noise == positives.unsqueeze(-1)).any()


def test_sync_free_redraw_for_gpus_never_leaves_a_clash() -> None:
    table = NoiseTable(np.array([0, 1000, 1, 1]))  # word 1 is almost always drawn
    positives = torch.ones(20_000, 1, dtype=torch.long)
    noise = _redraw_without_sync(
        table,
        table.draw((20_000, 1, 5), torch.Generator().manual_seed(0)),
        positives.unsqueeze(-1),
        torch.Generator().manual_seed(1),
    )
    assert not (noise == 1).any() and (noise > 0).all()


def test_same_seed_same_sample_and_new_epoch_new_sample() -> None:
    ids, sentence = corpus([30] * 50, vocab=40)
    keep = keep_probabilities(np.bincount(ids.numpy(), minlength=40), 1e-2)

    def draw(seed: int, epoch: int) -> torch.Tensor:
        return sample_epoch(ids, sentence, keep, 5, epoch_generator(seed, epoch, CPU)).contexts(0, 100)

    assert torch.equal(draw(7, 0), draw(7, 0))
    assert not torch.equal(draw(7, 0), draw(7, 1))
