"""Questions to trained vectors: cosine neighbours, similarity, analogies, with suggestions for unknown words."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.data.vocab import UNK, VocabError
from core.files import Damaged
from core.runs import Run, RunError
from core.runs.records import MAX_LIST_WORDS, MAX_WORD_CHARS, WatchResult, check_word_list, vectors_match

Table = Literal["center", "context", "sum"]
TABLES: tuple[Table, ...] = ("center", "context", "sum")
MAX_NEIGHBOURS = 1000  # the most neighbours one query lists
TINY_NORM = 1e-15  # below this (or past float32's range) a norm is computed again on the row scaled to 1


class UnknownWordError(KeyError):
    """A query word is not in the vocabulary; `suggestions` holds the closest ones."""

    def __init__(self, word: str, suggestions: list[str]) -> None:
        hint = f"; closest: {', '.join(suggestions)}" if suggestions else ""
        super().__init__(f"{word!r} is not in the vocabulary{hint}")
        self.word = word
        self.suggestions = suggestions

    def __str__(self) -> str:
        return str(self.args[0])


def close_words(words: list[str], word: str, n: int = 5) -> list[str]:
    """The vocabulary words closest to `word` by spelling (case-insensitive first, then edit similarity); none
    for a string longer than any word, whose comparison with every word would take minutes."""
    if len(word) > MAX_WORD_CHARS:
        return []
    lowered = [w for w in words if w.lower() == word.lower() and w != word]
    close = difflib.get_close_matches(word, words, n=n, cutoff=0.6)
    return list(dict.fromkeys(lowered + [w for w in close if w != UNK]))[:n]


@dataclass(repr=False)
class Embeddings:
    """Word vectors with their words (index 0 may be `<unk>`, which is never a query answer), and the run they
    come from when they come from one. Beside the app's names, gensim's: `vectors["chip"]`, `"chip" in vectors`,
    `most_similar`, `similarity`, and `to_gensim()` for gensim's own `KeyedVectors`."""

    words: list[str]
    center: np.ndarray
    context: np.ndarray | None = None
    counts: np.ndarray | None = None
    run: Run | None = None

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}
        self._unit: dict[str, np.ndarray] = {}

    def __repr__(self) -> str:
        rows, dim = self.center.shape
        source = f", run {self.run.name!r} at {self.run.path}" if self.run is not None else ""
        return f"<{type(self).__name__}: {rows} words of dimension {dim}{source}>"

    def __getitem__(self, word: str) -> np.ndarray:
        """The center vector of `word`; an unknown word raises UnknownWordError (a KeyError) with close spellings."""
        return self.center[self.lookup(word)]

    def __contains__(self, word: object) -> bool:
        return word in self.index and word != UNK

    def most_similar(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """gensim's name for `neighbors` on the center table: the `topn` nearest words and their cosines."""
        return self.neighbors(word, topn)

    def to_gensim(self, which: Table = "center"):
        """gensim `KeyedVectors` of one table's words that a user can ask about (`<unk>` left out)."""
        return keyed_vectors(self.vocabulary, self.table(which)[self.first_word :])

    @classmethod
    def from_run(cls, run: Run) -> Embeddings:
        """The run's words and vectors; a vocabulary that does not match its vectors row for row is refused."""
        try:
            vocab = run.vocab()
        except VocabError as exc:
            raise RunError(f"run {run.name} is damaged: {exc}") from exc
        center, context = run.load_vectors()
        mismatch = vectors_match(len(vocab), center.shape[0], context.shape[0])
        if mismatch is None and (center.ndim != 2 or center.shape != context.shape):
            mismatch = Damaged(f"the vectors have shapes {tuple(center.shape)} and {tuple(context.shape)}")
        if mismatch is not None:
            raise RunError(f"run {run.name} is damaged: {mismatch.reason}")
        return cls(vocab.idx_to_token, center.numpy(), context.numpy(), vocab.counts, run)

    @property
    def vocabulary(self) -> list[str]:
        """The words a user can ask about, most frequent first: all but a leading `<unk>`."""
        return self.words[self.first_word :]

    @property
    def first_word(self) -> int:
        """Row of the first real word: 1 for a trained run (row 0 is `<unk>`), 0 for an imported file."""
        return 1 if self.words and self.words[0] == UNK else 0

    @property
    def tables(self) -> tuple[Table, ...]:
        """The tables these vectors have: an imported file holds center vectors only."""
        return TABLES if self.context is not None else ("center",)

    def table(self, which: Table = "center") -> np.ndarray:
        if which == "center":
            return self.center
        if self.context is None:
            raise ValueError("these vectors have no context table; use the center table")
        return self.context if which == "context" else self.center + self.context

    def unit(self, which: Table = "center") -> np.ndarray:
        """Rows scaled to unit length (cached), so cosine similarity is a dot product; a zero row stays zero."""
        if which not in self._unit:
            self._unit[which] = unit_rows(self.table(which).astype(np.float32))
        return self._unit[which]

    def lookup(self, word: str) -> int:
        if word in self.index and word != UNK:
            return self.index[word]
        raise UnknownWordError(word, self.suggest(word))

    def suggest(self, word: str, n: int = 5) -> list[str]:
        return close_words(self.words, word, n)

    def neighbors(self, word: str, k: int = 10, which: Table = "center") -> list[tuple[str, float]]:
        """Top-k words by cosine similarity, excluding the word itself and `<unk>`."""
        unit = self.unit(which)
        return self._top(unit @ unit[self.lookup(word)], k, exclude={self.lookup(word)})

    def similarity(self, a: str, b: str, which: Table = "center") -> float:
        unit = self.unit(which)
        return float(unit[self.lookup(a)] @ unit[self.lookup(b)])

    def analogy(self, a: str, b: str, c: str, k: int = 5, which: Table = "center") -> list[tuple[str, float]]:
        """a : b :: c : ? by 3CosAdd (b - a + c), the question words excluded."""
        unit = self.unit(which)
        ia, ib, ic = self.lookup(a), self.lookup(b), self.lookup(c)
        target = unit[ib] - unit[ia] + unit[ic]
        target /= max(float(np.linalg.norm(target)), 1e-12)
        return self._top(unit @ target, k, exclude={ia, ib, ic})

    def _top(self, scores: np.ndarray, k: int, exclude: set[int]) -> list[tuple[str, float]]:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_NEIGHBOURS:
            limits = f"a whole number of at least 1, at most {MAX_NEIGHBOURS}"
            raise ValueError(f"the number of neighbours must be {limits}, not {k!r}")
        scores = np.where(np.isnan(scores), -np.inf, scores)  # a copy; NaN never wins
        for i in exclude | ({self.index[UNK]} if UNK in self.index else set()):
            scores[i] = -np.inf
        k = min(k, int(np.isfinite(scores).sum()))
        top = np.argpartition(-scores, k - 1)[:k] if k else np.array([], dtype=int)
        top = top[np.argsort(-scores[top])]
        return [(self.words[i], float(scores[i])) for i in top]


def row_norms(table: np.ndarray) -> np.ndarray:
    """Euclidean norms of the rows: 0 for a zero row or one that is not finite, and exact for rows whose
    squares underflow or overflow (tiny or huge values), which are computed again scaled by their largest value."""
    norms = np.linalg.norm(table, axis=1)
    redo = ~(norms > TINY_NORM) | ~np.isfinite(norms)
    if redo.any():
        rows = table[redo]
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            scale = np.abs(rows).max(axis=1)
            exact = scale * np.linalg.norm(rows / scale[:, None], axis=1)
        norms[redo] = np.where(np.isfinite(exact), exact, 0)
    return norms


def keyed_vectors(words: list[str], vectors: np.ndarray):
    """gensim's vectors, with norms that make a zero row's cosine 0 (gensim divides by the norm: 0/0 is NaN)."""
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=vectors.shape[1])
    kv.add_vectors(words, vectors.astype(np.float32))
    norms = row_norms(kv.vectors)
    kv.norms = np.where(norms > 0, norms, np.inf).astype(np.float32)
    return kv


def unit_rows(table: np.ndarray) -> np.ndarray:
    """The rows scaled to unit length; a row of norm 0 (padding) or with a non-finite value becomes zero,
    so its cosine with anything is 0, never NaN."""
    norms = row_norms(table)
    with np.errstate(invalid="ignore"):
        unit = table / np.where(norms > 0, norms, np.inf)[:, None]
    unit[norms == 0] = 0
    return unit


def watch_words(embeddings: Embeddings, words: list[str], k: int = 5) -> list[WatchResult]:
    """Neighbours of each word, or spelling suggestions for a word outside the vocabulary."""
    results = []
    for word in check_word_list(words, "watch words"):
        try:
            results.append(WatchResult(word, embeddings.neighbors(word, k), []))
        except UnknownWordError as exc:
            results.append(WatchResult(word, [], exc.suggestions))
    return results


# Function words a watch list skips: their neighbours say little about what the vectors learned.
STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "after",
        "all",
        "also",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "before",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "his",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "just",
        "may",
        "me",
        "more",
        "most",
        "mr",
        "mrs",
        "ms",
        "my",
        "n't",
        "new",
        "no",
        "not",
        "now",
        "of",
        "on",
        "one",
        "only",
        "or",
        "other",
        "our",
        "out",
        "over",
        "said",
        "says",
        "she",
        "so",
        "some",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "to",
        "two",
        "up",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "will",
        "with",
        "would",
        "year",
        "years",
        "you",
        "your",
        "'s",
    ]
)


def default_watch_words(tokens: list[str], preferred: list[str]) -> list[str]:
    """`preferred` with each word the vocabulary lacks replaced by one of its most frequent content words.

    `tokens` is the vocabulary, most frequent first (as `Vocab` orders it); a content word is made of
    letters and digits, not digits alone, at least three of them, and is no stop word. With the app's
    defaults (chip, bank, monday) absent from a small corpus, the watch list still shows words it knows.
    """
    known = set(tokens)
    kept = [w for w in preferred if w in known]
    spares = (t for t in tokens if _content(t) and t not in kept)
    return [w if w in known else next(spares, w) for w in preferred]


def _content(token: str) -> bool:
    return token.isalnum() and not token.isdigit() and len(token) >= 3 and token not in STOP_WORDS


def parse_words(text: str, what: str = "words", limit: int = MAX_LIST_WORDS) -> list[str]:
    """Words from a comma- or space-separated list, in order, without repeats; WordListError past `limit`
    words or MAX_WORD_CHARS characters in one."""
    return check_word_list(list(dict.fromkeys(w for w in text.replace(",", " ").split() if w)), what, limit)
