"""Cosine neighbours, similarity, analogies and suggestions on hand-made vectors."""

from __future__ import annotations

import numpy as np
import pytest

from core.explore.vectors import Embeddings, UnknownWordError

WORDS = ["<unk>", "king", "queen", "man", "woman", "apple"]
CENTER = np.array(
    [[9, 9, 9], [1, 1, 0], [1, 1, 1], [1, 0, 0], [1, 0, 1], [0, 0, -1]],
    dtype=np.float32,
)


@pytest.fixture
def emb() -> Embeddings:
    return Embeddings(WORDS, CENTER, CENTER * 2)


def test_neighbors_are_sorted_cosines_without_self_or_unk(emb: Embeddings) -> None:
    result = emb.neighbors("king", k=3)
    assert [w for w, _ in result] == ["queen", "man", "woman"]
    assert result[0][1] == pytest.approx(2 / np.sqrt(6))
    assert all(w not in ("king", "<unk>") for w, _ in emb.neighbors("king", k=10))
    assert len(emb.neighbors("king", k=10)) == 4


def test_tables(emb: Embeddings) -> None:
    assert emb.neighbors("king", 1, "context") == emb.neighbors("king", 1, "center")
    np.testing.assert_allclose(emb.table("sum"), CENTER * 3)


def test_similarity_and_analogy(emb: Embeddings) -> None:
    assert emb.similarity("man", "woman") == pytest.approx(1 / np.sqrt(2))
    assert emb.analogy("man", "king", "woman", k=1)[0][0] == "queen"


def test_unknown_word_names_close_matches(emb: Embeddings) -> None:
    with pytest.raises(UnknownWordError) as info:
        emb.neighbors("quen")
    assert info.value.suggestions[0] == "queen"
    assert "closest: queen" in str(info.value)
    with pytest.raises(UnknownWordError):
        emb.neighbors("<unk>")
    assert emb.suggest("KING") == ["king"]
