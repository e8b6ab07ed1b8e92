"""The chapter (D2L §15.3-15.4) step by step on one run's own corpus, vocabulary and weights.

Each section of the "Inside the model" page asks one function here; every number it shows comes from
the code that trains (`keep_probabilities`, `sample_epoch`, `NoiseTable`, `draw_noise`, `SkipGram`,
`center_loss`, `Embeddings.neighbors`), so the page explains what training really does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.config import SCHEMA, TrainConfig
from core.data.corpora import CorpusError, load_corpus, ptb_needs_download
from core.data.sampling import EpochSample, NoiseTable, draw_noise, keep_probabilities, sample_epoch, sentence_index
from core.data.vocab import Vocab
from core.explore.vectors import Embeddings, UnknownWordError, close_words
from core.loss import center_loss
from core.model import SkipGram

# The book's masked-loss example (§15.4.2): two rows of four slots, the second with two padded slots.
BOOK_PRED = ((1.1, -2.2, 3.3, -4.4), (1.1, -2.2, 3.3, -4.4))
BOOK_LABEL = ((1.0, 0.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0))
BOOK_MASK = ((1.0, 1.0, 1.0, 1.0), (1.0, 1.0, 0.0, 0.0))


def book_names(config: TrainConfig) -> list[tuple[str, str, str]]:
    """(book's name, our setting, this run's value) for each setting the chapter names (`Setting.book`)."""
    values = {name: getattr(config, name) for name in SCHEMA}
    return [
        (s.book, s.name, f"{values[s.name]:g}" if _number(values[s.name]) else str(values[s.name]))
        for s in SCHEMA.values()
        if s.book
    ]


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def generator(seed: int) -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed(seed % 2**63)
    return gen


def lookup(vocab: Vocab, word: str) -> int:
    """The word's id; an unknown word raises `UnknownWordError` with the closest spellings, as on Neighbours."""
    if word in vocab:
        return vocab.index(word)
    raise UnknownWordError(word, close_words(vocab.idx_to_token, word))


# --- the data (§15.3) --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Corpus:
    """The run's corpus encoded with its vocabulary (words below min_freq are `<unk>`, id 0)."""

    ids: torch.Tensor
    offsets: np.ndarray
    sentence: torch.Tensor  # the sentence of each token

    @classmethod
    def encode(cls, vocab: Vocab, sentences: list[list[str]]) -> Corpus:
        ids, offsets = vocab.encode(sentences)
        return cls(torch.as_tensor(ids), offsets, sentence_index(offsets, torch.device("cpu")))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def tokens(self, vocab: Vocab, sentence: int) -> list[str]:
        start, stop = self.offsets[sentence], self.offsets[sentence + 1]
        return [vocab.idx_to_token[i] for i in self.ids[start:stop].tolist()]


def read_corpus(config: TrainConfig, vocab: Vocab) -> Corpus:
    """The corpus the run trained on; a `CorpusError` when it is gone (PTB is never downloaded for this)."""
    if config.corpus == "ptb" and ptb_needs_download():
        raise CorpusError("the Penn Treebank is not on this machine (it would have to be downloaded)")
    if config.corpus not in ("ptb", "lee") and not Path(config.corpus).is_file():
        raise CorpusError(f"{config.corpus} no longer exists")
    return Corpus.encode(vocab, load_corpus(config.corpus, config.lowercase))


@dataclass(frozen=True)
class Subsampled:
    """One draw of subsampling (the book's `subsample`): the tokens kept, as training keeps them."""

    sample: EpochSample
    lengths_before: np.ndarray
    lengths_after: np.ndarray
    counts_after: np.ndarray


def subsample(corpus: Corpus, vocab: Vocab, config: TrainConfig, seed: int) -> Subsampled:
    """Subsampling, lone tokens dropped and window sizes drawn, by the training code (`sample_epoch`)."""
    keep = keep_probabilities(vocab.counts, config.subsample)
    sample = sample_epoch(corpus.ids, corpus.sentence, keep, config.max_window, generator(seed))
    return Subsampled(
        sample,
        np.diff(corpus.offsets),
        torch.bincount(sample.sentence, minlength=len(corpus)).numpy(),
        torch.bincount(sample.ids, minlength=len(vocab)).numpy(),
    )


@dataclass(frozen=True)
class WordCount:
    """A word's count before and after subsampling, with its keep probability min(1, sqrt(t / f(w)))."""

    word: str
    count: int
    num_tokens: int
    threshold: float
    keep: float
    after: int

    @property
    def frequency(self) -> float:
        return self.count / self.num_tokens


def word_count(vocab: Vocab, word: str, threshold: float, counts_after: np.ndarray | None) -> WordCount:
    """f(w) = count / num_tokens, num_tokens counting every token but `<unk>` (as the book's `subsample`)."""
    index = lookup(vocab, word)
    keep = float(keep_probabilities(vocab.counts, threshold)[index])
    after = -1 if counts_after is None else int(counts_after[index])
    return WordCount(word, int(vocab.counts[index]), int(vocab.counts[1:].sum()), threshold, keep, after)


@dataclass(frozen=True)
class Window:
    """A center in a sentence and the context words of its randomly sized window (1..max_window_size)."""

    tokens: list[str]
    center: int
    size: int

    @property
    def contexts(self) -> list[int]:
        """Positions of the context words: up to `size` on each side, inside the sentence."""
        low, high = max(0, self.center - self.size), min(len(self.tokens), self.center + self.size + 1)
        return [i for i in range(low, high) if i != self.center]


def window(corpus: Corpus, vocab: Vocab, sentence: int, center: int, max_window: int, seed: int) -> Window:
    """The book's `get_centers_and_contexts` for one center of a sentence (as encoded, before subsampling)."""
    tokens = corpus.tokens(vocab, sentence)
    size = int(torch.randint(1, max_window + 1, (1,), generator=generator(seed)))
    return Window(tokens, min(max(center, 0), len(tokens) - 1), size)


# --- negative sampling (§15.3.4) ------------------------------------------------------------------------------
def noise_probabilities(table: NoiseTable) -> np.ndarray:
    """The distribution the alias table draws from: a column's own share plus what other columns alias to it."""
    prob, alias = table.prob.cpu().numpy(), table.alias.cpu().numpy()
    mass = prob.copy()
    np.add.at(mass, alias, 1.0 - prob)
    return mass / len(prob)


@dataclass(frozen=True)
class NoiseRow:
    word: str
    count: int
    unigram: float
    noise: float


def noise_rows(vocab: Vocab, table: NoiseTable, top: int) -> list[NoiseRow]:
    """The `top` most frequent words: unigram P(w) = count / num_tokens against the noise P(w)^0.75, renormalised."""
    noise = noise_probabilities(table)
    total = vocab.counts[1:].sum()
    stop = min(top + 1, len(vocab))
    return [
        NoiseRow(vocab.idx_to_token[i], int(vocab.counts[i]), vocab.counts[i] / total, noise[i]) for i in range(1, stop)
    ]


def noise_words(vocab: Vocab, table: NoiseTable, contexts: list[str], k: int, seed: int) -> list[tuple[str, list[str]]]:
    """K noise words for each context word (the book's `get_negatives`), none equal to that word."""
    positives = torch.tensor([vocab.index(word) for word in contexts], dtype=torch.long)
    drawn = draw_noise(table, positives, k, generator(seed)).tolist()
    return [(word, [vocab.idx_to_token[i] for i in row]) for word, row in zip(contexts, drawn, strict=True)]


# --- the minibatch (§15.3.5) -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Batch:
    """The book's `batchify`: contexts then their noise words, padded with 0 to the longest row."""

    centers: torch.Tensor  # (batch, 1)
    contexts_negatives: torch.Tensor  # (batch, max_len)
    masks: torch.Tensor  # 1 for a real slot, 0 for padding
    labels: torch.Tensor  # 1 for a context word, 0 for a noise word or padding


def minibatch(sub: Subsampled, table: NoiseTable, negatives: int, batch_size: int, seed: int) -> Batch:
    """The first minibatch of a shuffled epoch, built from the training sample, in the book's layout."""
    gen = generator(seed)
    sample = dataclasses.replace(sub.sample)  # shuffled apart from `sub`, which stays as it was drawn
    sample.shuffle(gen)
    n = min(batch_size, len(sample))
    contexts = sample.contexts(0, n)
    real = contexts >= 0
    noise = draw_noise(table, contexts.clamp(min=0), negatives, gen).flatten(1)
    slots = torch.cat([contexts.clamp(min=0), noise], dim=1)
    kept = torch.cat([real, real.repeat_interleave(negatives, dim=1)], dim=1)
    order = torch.argsort((~kept).to(torch.int8), dim=1, stable=True)  # real slots first, in their order
    slots, kept = slots.gather(1, order), kept.gather(1, order)
    width = int(kept.sum(dim=1).max())
    labels = torch.arange(width) < real.sum(dim=1, keepdim=True)
    return Batch(
        sample.ids[sample.centers(0, n)].long().unsqueeze(1),
        torch.where(kept, slots, 0)[:, :width],
        kept[:, :width].float(),
        labels.float(),
    )


# --- the forward pass and the loss (§15.4.1-15.4.2) ---------------------------------------------------------
def trained_model(center: np.ndarray, context: np.ndarray) -> SkipGram:
    """The model with the run's weights: embed_v holds the center vectors, embed_u the context vectors."""
    model = SkipGram(*center.shape)
    with torch.no_grad():
        model.embed_v.weight.copy_(torch.as_tensor(center))
        model.embed_u.weight.copy_(torch.as_tensor(context))
    return model


def fresh_model(vocab_size: int, embed_size: int, seed: int) -> SkipGram:
    """The model as training starts it (Xavier-uniform), seeded so the page shows the same one on each rerun."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SkipGram(vocab_size, embed_size)


@dataclass(frozen=True)
class Forward:
    """skip_gram(center, contexts_and_negatives, embed_v, embed_u): its tensors' shapes and the scores."""

    shapes: dict[str, tuple[int, ...]]
    pred: torch.Tensor  # (batch, 1, max_len)


def forward(model: SkipGram, batch: Batch) -> Forward:
    with torch.no_grad():
        v = model.embed_v(batch.centers)
        u = model.embed_u(batch.contexts_negatives)
        pred = model(batch.centers.squeeze(1), batch.contexts_negatives)
    tensors = {"center": batch.centers, "contexts_and_negatives": batch.contexts_negatives, "v": v, "u": u}
    shapes = {name: tuple(t.shape) for name, t in {**tensors, "pred": pred}.items()}
    return Forward(shapes, pred)


def masked_loss(pred: np.ndarray, label: np.ndarray, mask: np.ndarray) -> list[float | None]:
    """loss(pred, label, mask) * mask.shape[1] / mask.sum(axis=1) per row; None for a row with no real slot."""
    pred_t, label_t, mask_t = (torch.as_tensor(np.asarray(a, dtype=np.float32)) for a in (pred, label, mask))
    loss = center_loss(pred_t, label_t, mask_t)
    return [None if bool(m.sum() == 0) else float(x) for x, m in zip(loss, mask_t, strict=True)]


def batch_loss(result: Forward, batch: Batch) -> torch.Tensor:
    """Each example's loss over its real slots: what training averages (0.41 on PTB after five epochs)."""
    return center_loss(result.pred.reshape(batch.labels.shape), batch.labels, batch.masks)


# --- the result (§15.4.4) ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cosine:
    """cos(x, y) = x·y / sqrt(|x|² |y|² + 1e-9), written out: the book's `get_similar_tokens` for one pair."""

    word: str
    other: str
    x: np.ndarray
    y: np.ndarray

    @property
    def dot(self) -> float:
        return float(self.x @ self.y)

    @property
    def norms(self) -> tuple[float, float]:
        return float(np.linalg.norm(self.x)), float(np.linalg.norm(self.y))

    @property
    def cos(self) -> float:
        return self.dot / float(np.sqrt(float(self.x @ self.x) * float(self.y @ self.y) + 1e-9))


def similar_tokens(emb: Embeddings, word: str, k: int) -> tuple[list[tuple[str, float]], Cosine]:
    """The k nearest words by the center vectors (the book's embed_v), and the cosine of the nearest written out."""
    pairs = emb.neighbors(word, k, "center")
    top = pairs[0][0]
    x, y = (emb.center[emb.lookup(w)].astype(np.float64) for w in (word, top))
    return pairs, Cosine(word, top, x, y)
