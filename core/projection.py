"""2-D and 3-D maps of word vectors: PCA or t-SNE of the most frequent words, with k-means clusters.

Vectors are scaled to unit length first, so distances on the map follow cosine similarity, the
measure every query uses.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from core.query import Embeddings, Table
from core.runs import Run

Method = Literal["pca", "tsne"]
METHODS: tuple[Method, ...] = ("pca", "tsne")
TSNE_MAX_WORDS = 5_000  # t-SNE took 17 s for this many PTB words on two cores (2.3 s for 1,000); it grows faster than n
MAP_MAX_WORDS = 20_000  # a browser draws more points than this sluggishly: larger maps show a sample
ALWAYS_SHOWN = 2_000  # the most frequent words stay on a sampled map, so labels and familiar words remain


@dataclass(frozen=True)
class Settings:
    """Everything that changes a map; hashable, so it can key a cache."""

    method: Method = "pca"
    n_words: int = 1000
    dims: int = 2
    table: Table = "center"
    perplexity: float = 30.0
    learning_rate: float | str = "auto"
    max_iter: int = 1000
    early_exaggeration: float = 12.0
    clusters: int = 8
    seed: int = 0


def capped(settings: Settings) -> tuple[Settings, str | None]:
    """The settings with t-SNE held to `TSNE_MAX_WORDS` words, and a note saying so when it cut."""
    if settings.method != "tsne" or settings.n_words <= TSNE_MAX_WORDS:
        return settings, None
    note = (
        f"t-SNE is limited to the {TSNE_MAX_WORDS:,} most frequent words here ({settings.n_words:,} asked); "
        "use PCA for more."
    )
    return replace(settings, n_words=TSNE_MAX_WORDS), note


def sample_note(embeddings: Embeddings, settings: Settings) -> str | None:
    """Says when a map shows a sample rather than every asked-for word."""
    asked = len(frequent_rows(embeddings, settings.n_words))
    if asked <= MAP_MAX_WORDS:
        return None
    return (
        f"{asked:,} words are more than a browser draws smoothly: the map shows the {ALWAYS_SHOWN:,} most "
        f"frequent and a random sample of the rest, {MAP_MAX_WORDS:,} in all."
    )


def vectors_stamp(run: Run) -> float:
    """Modification time of the run's current weights, so a cache sees new ones."""
    return run.vectors_stamp()


def cache_key(vectors_key: tuple, settings: Settings) -> tuple:
    """Key of one map: whatever identifies the vectors (a run's folder and weights' time, a file) and the settings."""
    return (*vectors_key, *astuple(settings))


def frequent_rows(embeddings: Embeddings, n: int) -> np.ndarray:
    """Indices of the `n` most frequent words (vocabularies are sorted by count, after `<unk>` when present)."""
    first = embeddings.first_word
    return np.arange(first, first + min(n, len(embeddings.words) - first))


def map_rows(embeddings: Embeddings, settings: Settings) -> np.ndarray:
    """The rows a map shows: the frequent rows, or past `MAP_MAX_WORDS` the top ones plus a seeded sample."""
    rows = frequent_rows(embeddings, settings.n_words)
    if len(rows) <= MAP_MAX_WORDS:
        return rows
    rng = np.random.default_rng(settings.seed)
    rest = rng.choice(rows[ALWAYS_SHOWN:], MAP_MAX_WORDS - ALWAYS_SHOWN, replace=False)
    return np.concatenate([rows[:ALWAYS_SHOWN], np.sort(rest)])


def project(vectors: np.ndarray, settings: Settings) -> np.ndarray:
    """Coordinates (rows, dims) of the unit-length `vectors` by PCA or t-SNE."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    if settings.method == "pca":
        return PCA(n_components=settings.dims, random_state=settings.seed).fit_transform(unit)
    if settings.method != "tsne":
        raise ValueError(f"unknown projection method {settings.method!r}; choose one of {', '.join(METHODS)}")
    tsne = TSNE(
        n_components=settings.dims,
        perplexity=safe_perplexity(settings.perplexity, len(unit)),
        learning_rate=settings.learning_rate,
        max_iter=settings.max_iter,
        early_exaggeration=settings.early_exaggeration,
        metric="cosine",
        init="pca",
        random_state=settings.seed,
    )
    return tsne.fit_transform(unit)


def safe_perplexity(perplexity: float, rows: int) -> float:
    """t-SNE needs perplexity < number of points; keep the asked value where it fits."""
    return float(min(perplexity, max(1.0, (rows - 1) / 3)))


def cluster(vectors: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k-means labels on unit-length vectors (k is clipped to the number of rows)."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    k = max(1, min(k, len(unit)))
    return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(unit)


def word_map(embeddings: Embeddings, settings: Settings) -> pd.DataFrame:
    """One row per frequent word: word, rank, count, coordinates x, y (and z), k-means cluster."""
    settings, _ = capped(settings)
    rows = map_rows(embeddings, settings)
    if len(rows) < 3:
        raise ValueError("the vocabulary needs at least 3 words for a map")
    vectors = embeddings.table(settings.table)[rows].astype(np.float64)
    coords = project(vectors, settings)
    rank = rows - embeddings.first_word + 1
    frame = pd.DataFrame({"word": [embeddings.words[i] for i in rows], "rank": rank})
    frame["count"] = embeddings.counts[rows] if embeddings.counts is not None else 0
    for axis, column in zip("xyz", coords.T, strict=False):
        frame[axis] = column
    frame["cluster"] = cluster(vectors, settings.clusters, settings.seed)
    return frame
