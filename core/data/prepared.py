"""The corpus encoded for training on one device, handed out in segments of whole sentences."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from core.data.sampling import sentence_index
from core.data.store import Store
from core.data.vocab import Vocab

SEGMENT_TOKENS = 1 << 24  # tokens per segment: bounds the memory of one epoch's sample


@dataclass(frozen=True)
class Segment:
    """A slice of the corpus on the training device: whole sentences, training ids."""

    ids: torch.Tensor
    sentence: torch.Tensor
    raw_tokens: int


@dataclass
class Prepared:
    """A corpus encoded for training on one device, handed out in segments of whole sentences.

    `read(start, stop)` gives the training ids of tokens start..stop-1: a slice of an array in
    memory, or a read from a store on disk, so memory is bounded by a segment, not the corpus.
    """

    vocab: Vocab
    offsets: np.ndarray
    read: Callable[[int, int], np.ndarray]
    device: torch.device

    @classmethod
    def build(cls, sentences: list[list[str]], min_freq: int, device: torch.device) -> Prepared:
        vocab = Vocab.build(sentences, min_freq)
        ids, offsets = vocab.encode(sentences)
        return cls(vocab, offsets, lambda start, stop: ids[start:stop], device)

    @classmethod
    def from_store(cls, store: Store, min_freq: int, device: torch.device) -> Prepared:
        vocab, lookup = store.vocab(min_freq)
        return cls(vocab, store.offsets(), lambda start, stop: lookup[store.read(start, stop)], device)

    @property
    def raw_tokens(self) -> int:
        return int(self.offsets[-1])

    def shards(self, world: int) -> list[list[tuple[int, int]]]:
        """Token ranges of each rank's segments: contiguous, cut at sentence ends, near-equal in size.

        Every rank gets the same number of segments (collectives must match across ranks), each
        of at most about SEGMENT_TOKENS tokens; one process on a small corpus gets one segment.
        """
        total = self.raw_tokens
        per_rank = max(1, math.ceil(total / (world * SEGMENT_TOKENS)))
        targets = np.arange(world * per_rank + 1, dtype=np.int64) * total // (world * per_rank)
        cuts = np.asarray(self.offsets[np.searchsorted(self.offsets, targets)], dtype=np.int64).tolist()
        ranges = list(itertools.pairwise(cuts))
        return [ranges[r * per_rank : (r + 1) * per_rank] for r in range(world)]

    def segments(self, rank: int = 0, world: int = 1) -> Iterator[Segment]:
        for start, stop in self.shards(world)[rank]:
            first, last = np.searchsorted(self.offsets, [start, stop])
            local = np.asarray(self.offsets[first : last + 1], dtype=np.int64) - start
            ids = torch.as_tensor(self.read(start, stop)).to(self.device)
            yield Segment(ids, sentence_index(local, self.device), stop - start)
