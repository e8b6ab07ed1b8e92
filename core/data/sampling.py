"""Per-epoch sampling as tensor operations on the training device.

Every epoch draws afresh (the book's exercise 2): which tokens survive subsampling, each center's
window size, and the noise words. Nothing here loops in Python over tokens, centers or pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def keep_probabilities(counts: np.ndarray, threshold: float) -> torch.Tensor:
    """P(keep w) = min(1, sqrt(t / f(w))), f over non-`<unk>` tokens; `<unk>` (index 0) is always dropped."""
    counts = torch.as_tensor(counts, dtype=torch.float64)
    keep = torch.ones_like(counts)
    if threshold > 0:
        freq = counts / counts[1:].sum()
        keep = torch.sqrt(threshold / freq.clamp_min(1e-300)).clamp(max=1.0)
    keep[0] = 0.0
    return keep


SAMPLE_BLOCK = 1 << 22
GPU_REDRAW_ROUNDS = 4


class NoiseTable:
    """Noise words ∝ count^power over the vocabulary without `<unk>`, drawn in O(1) by Walker's alias method.

    Each draw picks a column uniformly, then keeps it or takes its alias; the distribution is exact.
    `effective_words` is 1/Σp²: the distribution draws the same word twice as often as that many equally
    likely words would (what sets how many centers a GPU may train at once before they collide on noise rows).
    """

    def __init__(self, counts: np.ndarray, power: float = 0.75) -> None:
        weights = np.asarray(counts, dtype=np.float64) ** power
        weights[0] = 0.0
        p = weights / weights.sum()
        prob, alias = _alias_table(p)
        self.prob = torch.as_tensor(prob)
        self.alias = torch.as_tensor(alias)
        self.effective_words = float(1.0 / np.square(p).sum())

    def to(self, device: torch.device) -> NoiseTable:
        self.prob, self.alias = self.prob.to(device), self.alias.to(device)
        return self

    def draw(self, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
        device = self.prob.device
        column = torch.randint(0, self.prob.numel(), shape, generator=gen, device=device)
        keep = torch.rand(shape, generator=gen, device=device, dtype=torch.float64) < self.prob[column]
        return torch.where(keep, column, self.alias[column])


def _alias_table(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vose's construction: columns of height 1/n, each split between itself and one alias."""
    n = len(p)
    scaled = p * n
    prob = np.ones(n)
    alias = np.arange(n)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s], alias[s] = scaled[s], g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    for i in small:  # only rounding error is left: these columns keep themselves
        prob[i] = 1.0
    return prob, alias


def draw_noise(table: NoiseTable, positives: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """`k` noise words for each entry of `positives`, none equal to the positive it stands beside."""
    noise = table.draw((*positives.shape, k), gen)
    if noise.device.type != "cpu":
        return _redraw_without_sync(table, noise, positives.unsqueeze(-1), gen)
    clash = noise == positives.unsqueeze(-1)
    while bool(clash.any()):
        noise[clash] = table.draw((int(clash.sum()),), gen)
        clash = noise == positives.unsqueeze(-1)
    return noise


def _redraw_without_sync(
    table: NoiseTable, noise: torch.Tensor, positives: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    """Rejection in a fixed number of rounds, so a GPU never waits on the host.

    A clash survives all rounds with probability p(w)^(rounds+1) (below 1e-8 on PTB); such a
    word is replaced by the next word id, which keeps the guarantee that no noise word equals
    its positive.
    """
    for _ in range(GPU_REDRAW_ROUNDS):
        noise = torch.where(noise == positives, table.draw(tuple(noise.shape), gen), noise)
    vocab = table.prob.numel()
    return torch.where(noise == positives, noise % (vocab - 1) + 1, noise)


@dataclass
class EpochSample:
    """One epoch's surviving tokens: ids, sentence of each, and each one's window size."""

    ids: torch.Tensor
    sentence: torch.Tensor
    window: torch.Tensor
    max_window: int
    order: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.ids.numel()

    def shuffle(self, gen: torch.Generator) -> None:
        """Visit centers in a random order (the book's DataLoader shuffles); contexts stay in place."""
        self.order = torch.randperm(len(self), generator=gen, device=self.ids.device)

    def centers(self, start: int, stop: int) -> torch.Tensor:
        """Positions of the centers start..stop-1 in visiting order."""
        if self.order is None:
            return torch.arange(start, stop, device=self.ids.device)
        return self.order[start:stop]

    def contexts(self, start: int, stop: int) -> torch.Tensor:
        """Context ids of centers start..stop-1 as a (n, 2W) matrix, -1 outside the window or sentence.

        Built by offset arithmetic: column j holds the token at offset -W..-1, 1..W from each center.
        """
        rows = self.centers(start, stop)
        offsets = _offsets(self.max_window, self.ids.device)
        cols = rows.unsqueeze(1) + offsets
        inside = (cols >= 0) & (cols < len(self))
        cols.clamp_(0, len(self) - 1)
        same = self.sentence[cols] == self.sentence[rows].unsqueeze(1)
        near = offsets.abs() <= self.window[rows].unsqueeze(1)
        return torch.where(inside & same & near, self.ids[cols], torch.full_like(cols, -1))


def _offsets(max_window: int, device: torch.device) -> torch.Tensor:
    left = torch.arange(-max_window, 0, device=device)
    return torch.cat([left, -left.flip(0)])


def sentence_index(offsets: np.ndarray, device: torch.device) -> torch.Tensor:
    lengths = torch.as_tensor(np.diff(offsets), device=device)
    return torch.repeat_interleave(torch.arange(lengths.numel(), device=device), lengths)


def sample_epoch(
    ids: torch.Tensor, sentence: torch.Tensor, keep: torch.Tensor, max_window: int, gen: torch.Generator
) -> EpochSample:
    """Subsample, then drop tokens left alone in their sentence, then draw window sizes 1..W.

    The keep mask is drawn in blocks, so memory beyond the corpus itself stays small on any size.
    """
    kept = torch.empty(ids.shape, dtype=torch.bool, device=ids.device)
    keep = keep.to(torch.float32)
    for start in range(0, ids.numel(), SAMPLE_BLOCK):
        block = ids[start : start + SAMPLE_BLOCK]
        kept[start : start + block.numel()] = torch.rand(block.shape, generator=gen, device=ids.device) < keep[block]
    ids, sentence = ids[kept], sentence[kept]
    if ids.numel() > 1:
        alone = _alone(sentence)
        ids, sentence = ids[~alone], sentence[~alone]
    window = torch.randint(1, max_window + 1, ids.shape, generator=gen, device=ids.device, dtype=torch.int16)
    return EpochSample(ids, sentence, window, max_window)


def _alone(sentence: torch.Tensor) -> torch.Tensor:
    """True for tokens whose sentence kept no other token."""
    prev_same = torch.zeros_like(sentence, dtype=torch.bool)
    prev_same[1:] = sentence[1:] == sentence[:-1]
    next_same = torch.zeros_like(prev_same)
    next_same[:-1] = prev_same[1:]
    return ~(prev_same | next_same)


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    """A generator that depends only on (seed, epoch), so a resumed run draws what the original would.

    The mix is taken modulo 2**64, the generator's seed range, so every seed a config allows works (and
    seeds small enough to have worked before draw what they drew before).
    """
    gen = torch.Generator(device=device)
    gen.manual_seed((seed * 1_000_003 + epoch) % 2**64)
    return gen
