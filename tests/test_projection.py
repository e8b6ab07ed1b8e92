"""Word maps: shapes, determinism of PCA, t-SNE, clusters and the cache key."""

from __future__ import annotations

import os

import numpy as np
import pytest

from core.data.vocab import UNK
from core.explore.projection import (
    ALWAYS_SHOWN,
    MAP_MAX_WORDS,
    TSNE_MAX_WORDS,
    Settings,
    cache_key,
    capped,
    cluster,
    frequent_rows,
    project,
    safe_perplexity,
    sample_note,
    vectors_stamp,
    word_map,
)
from core.explore.vectors import Embeddings


def fake_embeddings(words: int = 120, dim: int = 16, seed: int = 0) -> Embeddings:
    rng = np.random.default_rng(seed)
    names = ["<unk>"] + [f"w{i}" for i in range(words)]
    counts = np.array([0, *sorted(rng.integers(1, 1000, words).tolist(), reverse=True)])
    return Embeddings(names, rng.normal(size=(words + 1, dim)), rng.normal(size=(words + 1, dim)), counts)


@pytest.mark.parametrize("dims", [2, 3])
def test_pca_map_has_one_row_per_frequent_word(dims: int) -> None:
    frame = word_map(fake_embeddings(), Settings(method="pca", n_words=50, dims=dims, clusters=4))
    assert len(frame) == 50
    assert list(frame["word"][:3]) == ["w0", "w1", "w2"]  # most frequent first, <unk> left out
    assert {"x", "y"} <= set(frame) and ("z" in frame) == (dims == 3)
    assert frame["cluster"].nunique() == 4
    assert frame["rank"].tolist() == list(range(1, 51))


def test_n_words_is_clipped_to_the_vocabulary() -> None:
    emb = fake_embeddings(words=30)
    assert frequent_rows(emb, 1000).tolist() == list(range(1, 31))
    assert len(word_map(emb, Settings(n_words=1000))) == 30


def test_pca_is_deterministic() -> None:
    vectors = np.random.default_rng(1).normal(size=(80, 10))
    first = project(vectors, Settings(method="pca"))
    assert np.array_equal(first, project(vectors, Settings(method="pca")))
    assert first.shape == (80, 2)


def test_tsne_runs_and_keeps_its_seed() -> None:
    vectors = np.random.default_rng(2).normal(size=(60, 8))
    settings = Settings(method="tsne", perplexity=10, max_iter=250, seed=3)
    coords = project(vectors, settings)
    assert coords.shape == (60, 2) and np.isfinite(coords).all()
    assert np.allclose(coords, project(vectors, settings))


def test_perplexity_fits_small_maps() -> None:
    assert safe_perplexity(30, 1000) == 30
    assert safe_perplexity(30, 10) == 3
    coords = project(np.random.default_rng(3).normal(size=(10, 4)), Settings(method="tsne", max_iter=250))
    assert coords.shape == (10, 2)


def test_unknown_method_is_an_error() -> None:
    with pytest.raises(ValueError, match="pca, tsne"):
        project(np.ones((5, 3)), Settings(method="isomap"))  # type: ignore[arg-type]


def test_cluster_clips_k_to_the_rows() -> None:
    assert len(set(cluster(np.random.default_rng(4).normal(size=(3, 5)), k=10))) <= 3


def test_cache_key_follows_run_vectors_and_settings(lee_run) -> None:
    pca, tsne = Settings(method="pca"), Settings(method="tsne")
    key = cache_key((lee_run.name, vectors_stamp(lee_run)), pca)
    assert key == cache_key((lee_run.name, vectors_stamp(lee_run)), pca)
    assert key != cache_key((lee_run.name, vectors_stamp(lee_run)), tsne)
    vectors = lee_run.path / "vectors.safetensors"
    stamp = vectors.stat().st_mtime
    os.utime(vectors, (stamp + 5, stamp + 5))  # new weights written later
    assert cache_key((lee_run.name, vectors_stamp(lee_run)), pca) != key


def zipf_embeddings(n: int, dim: int = 8, unk: bool = True) -> Embeddings:
    words = ([UNK] if unk else []) + [f"w{i}" for i in range(n)]
    vectors = np.random.default_rng(0).normal(size=(len(words), dim)).astype(np.float32)
    return Embeddings(words, vectors, counts=np.arange(len(words), 0, -1))


def test_tsne_cap_warns() -> None:
    settings, note = capped(Settings(method="tsne", n_words=TSNE_MAX_WORDS + 1))
    assert settings.n_words == TSNE_MAX_WORDS and f"{TSNE_MAX_WORDS:,}" in note
    assert capped(Settings(method="tsne", n_words=TSNE_MAX_WORDS)) == (
        Settings(method="tsne", n_words=TSNE_MAX_WORDS),
        None,
    )
    assert capped(Settings(method="pca", n_words=10 * TSNE_MAX_WORDS))[1] is None


def test_large_vocabulary_samples() -> None:
    emb = zipf_embeddings(MAP_MAX_WORDS + 5_000)
    settings = Settings(n_words=len(emb.words), clusters=2)
    assert "sample" in sample_note(emb, settings)
    frame = word_map(emb, settings)
    assert len(frame) == MAP_MAX_WORDS and frame["word"].is_unique
    assert list(frame["word"][:ALWAYS_SHOWN]) == emb.words[1 : ALWAYS_SHOWN + 1]  # the most frequent are all kept
    assert frame["rank"].is_monotonic_increasing and UNK not in set(frame["word"])
    assert sample_note(emb, Settings(n_words=MAP_MAX_WORDS)) is None


def test_imported_vectors_map_starts_at_the_first_row() -> None:
    frame = word_map(zipf_embeddings(20, unk=False), Settings(n_words=5, clusters=2))
    assert list(frame["word"]) == ["w0", "w1", "w2", "w3", "w4"] and list(frame["rank"]) == [1, 2, 3, 4, 5]


def test_map_of_a_trained_run(lee_run) -> None:
    frame = word_map(Embeddings.from_run(lee_run), Settings(n_words=200))
    assert len(frame) == 200 and frame["count"].is_monotonic_decreasing


def test_focus_words_join_the_map_or_make_it_alone() -> None:
    emb = fake_embeddings(words=300)
    focus = ("w250", "w3", "w299")
    frame = word_map(emb, Settings(n_words=20, focus=focus, clusters=3))
    assert len(frame) == 22 and set(focus) <= set(frame["word"])  # w3 was on the map already
    assert frame.loc[frame["focus"], "word"].tolist() == ["w3", "w250", "w299"]
    alone = word_map(emb, Settings(n_words=20, focus=focus, isolate=True, clusters=2))
    assert sorted(alone["word"]) == sorted(focus) and alone["focus"].all()


def test_tsne_reports_frames_and_a_raising_callback_cancels_it() -> None:
    vectors = np.random.default_rng(5).normal(size=(80, 8))
    frames: list[tuple[int, int]] = []
    coords = project(vectors, Settings(method="tsne", max_iter=300), lambda i, n, xy: frames.append((i, n)))
    assert coords.shape == (80, 2) and frames[-1] == (300, 300) and len(frames) == 6

    class Cancelled(Exception):
        pass

    def cancel(done: int, total: int, xy: np.ndarray) -> None:
        raise Cancelled

    with pytest.raises(Cancelled):
        project(vectors, Settings(method="tsne", max_iter=5000), cancel)


def test_umap_map() -> None:
    frame = word_map(fake_embeddings(words=60), Settings(method="umap", n_words=60, clusters=3))
    assert len(frame) == 60 and np.isfinite(frame[["x", "y"]].to_numpy()).all()
