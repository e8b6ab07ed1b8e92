"""The chapter's sections (core.explore.chapter) against values worked by hand, and their speed on PTB."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from core.bench.chapter import run_sections
from core.config import TrainConfig
from core.data.corpora import CorpusError
from core.data.sampling import NoiseTable
from core.data.vocab import Vocab
from core.explore import chapter
from core.explore.vectors import Embeddings, UnknownWordError


def tiny_vocab() -> Vocab:
    # <unk> 5, a 100, b 10, c 1: num_tokens (without <unk>) is 111
    return Vocab(["<unk>", "a", "b", "c"], [5, 100, 10, 1])


def test_the_books_masked_loss_example() -> None:
    losses = chapter.masked_loss(np.array(chapter.BOOK_PRED), np.array(chapter.BOOK_LABEL), np.array(chapter.BOOK_MASK))
    assert [round(x, 4) for x in losses] == [0.9352, 1.8462]
    edited = np.array(chapter.BOOK_MASK)
    edited[1] = 0  # a row with no real slot has no loss, rather than 0/0
    assert chapter.masked_loss(np.array(chapter.BOOK_PRED), np.array(chapter.BOOK_LABEL), edited)[1] is None


def test_keep_probability_from_the_count_and_the_threshold() -> None:
    vocab = tiny_vocab()
    a = chapter.word_count(vocab, "a", 0.01, None)
    assert (a.count, a.num_tokens, a.after) == (100, 111, -1)
    assert a.frequency == pytest.approx(100 / 111)
    assert a.keep == pytest.approx(math.sqrt(0.01 / (100 / 111)))  # 0.10536
    assert chapter.word_count(vocab, "c", 0.01, None).keep == 1.0  # sqrt(1.11) is capped at 1
    assert chapter.word_count(vocab, "a", 0.0, np.array([0, 7, 0, 0])).after == 7
    assert chapter.word_count(vocab, "a", 0.0, None).keep == 1.0  # t = 0 keeps every word
    with pytest.raises(UnknownWordError) as caught:
        chapter.word_count(vocab, "A", 0.01, None)
    assert caught.value.suggestions == ["a"]


def test_noise_probabilities_sum_to_one_and_follow_count_to_the_075() -> None:
    table = NoiseTable(np.array([7, 16, 1, 81]))  # 16^0.75 = 8, 1, 81^0.75 = 27: total 36
    p = chapter.noise_probabilities(table)
    assert p.sum() == pytest.approx(1.0)
    assert p == pytest.approx([0.0, 8 / 36, 1 / 36, 27 / 36])
    vocab = Vocab(["<unk>", "x", "y", "z"], [7, 16, 1, 81])
    rows = chapter.noise_rows(vocab, table, top=2)
    assert [(r.word, r.count) for r in rows] == [("x", 16), ("y", 1)]
    assert rows[0].unigram == pytest.approx(16 / 98) and rows[0].noise == pytest.approx(8 / 36)


def test_noise_words_never_equal_their_context() -> None:
    vocab = Vocab(["<unk>", "x", "y", "z"], [7, 16, 1, 81])
    drawn = chapter.noise_words(vocab, NoiseTable(vocab.counts), ["x", "z"], 50, seed=3)
    assert [w for w, _ in drawn] == ["x", "z"]
    for context, noise in drawn:
        assert len(noise) == 50 and context not in noise and "<unk>" not in noise
    assert drawn == chapter.noise_words(vocab, NoiseTable(vocab.counts), ["x", "z"], 50, seed=3)


def test_the_window_of_a_center() -> None:
    example = chapter.Window(["w0", "w1", "w2", "w3", "w4", "w5"], center=1, size=2)
    assert example.contexts == [0, 2, 3]
    assert chapter.Window(["w0", "w1"], center=1, size=5).contexts == [0]


def sentences() -> list[list[str]]:
    return [["a", "b", "c", "a", "b"], ["c", "a"], ["b", "rare", "a", "c", "b", "a", "c"], ["a"]]


def tiny_corpus() -> tuple[Vocab, chapter.Corpus]:
    vocab = Vocab.build(sentences(), min_freq=2)
    return vocab, chapter.Corpus.encode(vocab, sentences())


def test_subsampling_with_t_0_drops_only_unk_and_lone_tokens() -> None:
    vocab, corpus = tiny_corpus()
    config = TrainConfig(corpus="x", min_freq=2, subsample=0.0, max_window=2, negatives=2)
    sub = chapter.subsample(corpus, vocab, config, seed=0)
    assert sub.lengths_before.tolist() == [5, 2, 7, 1]
    assert sub.lengths_after.tolist() == [5, 2, 6, 0]  # "rare" is <unk>; the lone "a" has no context
    assert sub.counts_after.sum() == len(sub.sample) == 13 and sub.counts_after[0] == 0
    assert corpus.tokens(vocab, 2)[1] == "<unk>"
    example = chapter.window(corpus, vocab, 0, 2, 2, seed=5)
    assert example.tokens == ["a", "b", "c", "a", "b"] and example.center == 2 and 1 <= example.size <= 2


def test_the_minibatch_has_the_books_layout() -> None:
    vocab, corpus = tiny_corpus()
    config = TrainConfig(corpus="x", min_freq=2, subsample=0.0, max_window=2, negatives=2)
    sub = chapter.subsample(corpus, vocab, config, seed=0)
    batch = chapter.minibatch(sub, NoiseTable(vocab.counts), negatives=2, batch_size=8, seed=1)
    n, width = batch.contexts_negatives.shape
    assert batch.centers.shape == (8, 1) and n == 8
    contexts = batch.labels.sum(dim=1)
    real = batch.masks.sum(dim=1)
    assert torch.equal(real, contexts * 3)  # each context and its K = 2 noise words
    assert width == int(real.max())
    for row in range(n):
        m, r = int(contexts[row]), int(real[row])
        assert batch.masks[row, :r].eq(1).all() and batch.masks[row, r:].eq(0).all()
        assert batch.contexts_negatives[row, r:].eq(0).all()  # padding is 0
        assert batch.labels[row, :m].eq(1).all() and batch.labels[row, m:].eq(0).all()
        assert batch.contexts_negatives[row, :r].ne(0).all()  # no <unk> among real slots
    assert sub.sample.order is None  # the draw itself is left unshuffled
    again = chapter.minibatch(sub, NoiseTable(vocab.counts), negatives=2, batch_size=8, seed=1)
    assert torch.equal(again.contexts_negatives, batch.contexts_negatives)


def test_forward_shapes_and_scores() -> None:
    batch = chapter.Batch(
        centers=torch.tensor([[1], [2]]),
        contexts_negatives=torch.tensor([[2, 3, 4, 0], [1, 3, 0, 0]]),
        masks=torch.tensor([[1.0, 1, 1, 0], [1, 1, 0, 0]]),
        labels=torch.tensor([[1.0, 0, 0, 0], [1, 0, 0, 0]]),
    )
    center = np.arange(15, dtype=np.float32).reshape(5, 3) / 10
    context = -np.arange(15, dtype=np.float32).reshape(5, 3) / 20
    result = chapter.forward(chapter.trained_model(center, context), batch)
    assert result.shapes == {
        "center": (2, 1),
        "contexts_and_negatives": (2, 4),
        "v": (2, 1, 3),
        "u": (2, 4, 3),
        "pred": (2, 1, 4),
    }
    v = torch.as_tensor(center)[batch.centers]
    u = torch.as_tensor(context)[batch.contexts_negatives]
    assert torch.allclose(result.pred, torch.bmm(v, u.permute(0, 2, 1)))  # the book's skip_gram
    assert result.pred[0, 0, 0].item() == pytest.approx(float(center[1] @ context[2]))
    losses = chapter.batch_loss(result, batch)
    assert losses.shape == (2,)
    pred = result.pred[1, 0, :2].double()
    by_hand = (-torch.nn.functional.logsigmoid(pred[0]) - torch.nn.functional.logsigmoid(-pred[1])) / 2
    assert losses[1].item() == pytest.approx(by_hand.item(), rel=1e-5)


def test_a_fresh_model_is_seeded() -> None:
    first, second = chapter.fresh_model(10, 4, seed=7), chapter.fresh_model(10, 4, seed=7)
    assert torch.equal(first.embed_v.weight, second.embed_v.weight)
    assert not torch.equal(first.embed_v.weight, chapter.fresh_model(10, 4, seed=8).embed_v.weight)


def test_similar_tokens_write_out_the_cosine() -> None:
    center = np.array([[0, 0], [1, 0], [0.6, 0.8], [0, 2], [-1, 0.1]], dtype=np.float32)
    emb = Embeddings(["<unk>", "x", "y", "z", "w"], center)
    pairs, cos = chapter.similar_tokens(emb, "x", 2)
    assert [w for w, _ in pairs] == ["y", "z"]
    assert (cos.word, cos.other) == ("x", "y")
    assert cos.dot == pytest.approx(0.6) and cos.norms == pytest.approx((1.0, 1.0))
    assert cos.cos == pytest.approx(pairs[0][1], abs=1e-6)


def test_book_names_beside_ours() -> None:
    names = chapter.book_names(TrainConfig())
    assert ("max_window_size", "max_window", "5") in names and ("num_noise_words", "negatives", "5") in names


def test_a_vanished_corpus_is_a_corpus_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no longer exists"):
        chapter.read_corpus(TrainConfig(corpus=str(tmp_path / "gone.txt")), tiny_vocab())


@pytest.mark.ptb
def test_the_sections_on_ptb(ptb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PTB: the book's count of "the", and the forward pass's shapes for a batch of the run's data.
    Their times are a benchmark's (`python -m core bench --chapter`), never a test's."""
    monkeypatch.setenv("W2V_DATA_DIR", str(ptb_dir))
    results = run_sections(str(ptb_dir)).results
    assert results["count of a word"].count == 50_770
    batch = results["minibatch"]
    for name in ("forward, trained", "forward, fresh"):
        assert results[name].shapes["pred"] == (TrainConfig().batch_size, 1, batch.masks.shape[1])
