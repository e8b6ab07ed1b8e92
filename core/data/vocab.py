"""Vocabulary: `<unk>` at index 0, then words with count >= min_freq by descending count (ties by token)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from core.files import Damaged, parse_object, read_text, write_text_atomic

UNK = "<unk>"
MAX_VOCAB_BYTES = 1 << 30  # millions of words take tens of MB; past this the file is not a vocabulary


class VocabError(ValueError):
    """The vocabulary cannot be built or loaded."""


class Vocab:
    def __init__(self, tokens: list[str], counts: list[int]) -> None:
        if not tokens or tokens[0] != UNK:
            raise VocabError(f"the first vocabulary entry must be {UNK}")
        if len(tokens) != len(counts):
            raise VocabError("tokens and counts differ in length")
        self.idx_to_token = tokens
        self.token_to_idx = {t: i for i, t in enumerate(tokens)}
        if len(self.token_to_idx) != len(tokens):
            raise VocabError("the vocabulary holds a token twice")
        self.counts = np.asarray(counts, dtype=np.int64)

    @classmethod
    def build(cls, sentences: list[list[str]], min_freq: int) -> Vocab:
        counter = Counter(tok for sentence in sentences for tok in sentence)
        kept = sorted(
            ((tok, n) for tok, n in counter.items() if n >= min_freq and tok != UNK),
            key=lambda item: (-item[1], item[0]),
        )
        if len(kept) < 2:
            raise VocabError(
                f"min_freq={min_freq} leaves {len(kept)} word(s) in the vocabulary; "
                "lower min_freq or give a larger corpus (at least 2 words must remain)"
            )
        unk_count = sum(counter.values()) - sum(n for _, n in kept)
        return cls([UNK] + [t for t, _ in kept], [unk_count] + [n for _, n in kept])

    def check_pairs(self, sentences: list[list[str]]) -> None:
        """Refuse a corpus that gives skip-gram nothing to learn: no sentence holds two vocabulary words.

        Stops at the first sentence that does, so a usable corpus costs a few lines.
        """
        known = self.token_to_idx
        if not any(sum(t in known and t != UNK for t in s) >= 2 for s in sentences if len(s) >= 2):
            raise VocabError(
                "the corpus gives no training pair: no line holds two words of the vocabulary "
                "(one sentence per line); put more words on a line or lower min_freq"
            )

    def __len__(self) -> int:
        return len(self.idx_to_token)

    def __contains__(self, token: str) -> bool:
        return token in self.token_to_idx and token != UNK

    def index(self, token: str) -> int:
        return self.token_to_idx.get(token, 0)

    def encode(self, sentences: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Flatten to (token ids, sentence offsets): sentence s is ids[offsets[s]:offsets[s + 1]]."""
        lookup = self.token_to_idx.get
        ids = np.fromiter((lookup(t, 0) for s in sentences for t in s), dtype=np.int64)
        lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
        offsets = np.zeros(len(sentences) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return ids, offsets

    def save(self, path: Path) -> None:
        """One JSON object: tokens and counts (plain data, safe to load)."""
        data = {"tokens": self.idx_to_token, "counts": self.counts.tolist()}
        write_text_atomic(path, json.dumps(data, ensure_ascii=False))

    @classmethod
    def load(cls, path: Path) -> Vocab:
        """A saved vocabulary; any damage (cut short, wrong types, a link, negative counts) is a `VocabError`."""
        data = parse_object(read_text(Path(path), limit=MAX_VOCAB_BYTES))
        if isinstance(data, Damaged):
            raise VocabError(f"{path}: not a readable vocabulary file: {data.reason}")
        tokens, counts = data.get("tokens"), data.get("counts")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise VocabError(f"{path}: its tokens are not a list of words")
        if not isinstance(counts, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in counts):
            raise VocabError(f"{path}: its counts are not whole numbers")
        if any(not 0 <= n < 2**63 for n in counts):
            raise VocabError(f"{path}: its counts must lie between 0 and 2**63 - 1")
        return cls(tokens, counts)
