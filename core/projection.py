"""2-D and 3-D maps of word vectors: PCA or t-SNE of the most frequent words, with k-means clusters.

Vectors are scaled to unit length first, so distances on the map follow cosine similarity, the
measure every query uses.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
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


def vectors_stamp(run: Run) -> float:
    """Modification time of the file `Run.load_vectors` reads, so a cache sees new weights."""
    for name in ("vectors.safetensors", "checkpoint.safetensors"):
        path = run.path / name
        if path.is_file():
            return path.stat().st_mtime
    return 0.0


def cache_key(run: Run, settings: Settings) -> tuple:
    """Key of one map: the run (its folder, which ends in its name), the version of its vectors, the settings."""
    return (str(run.path.resolve()), vectors_stamp(run), *astuple(settings))


def frequent_rows(embeddings: Embeddings, n: int) -> np.ndarray:
    """Indices of the `n` most frequent words (the vocabulary is sorted by count after `<unk>` at 0)."""
    return np.arange(1, min(n, len(embeddings.words) - 1) + 1)


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
    rows = frequent_rows(embeddings, settings.n_words)
    if len(rows) < 3:
        raise ValueError("the vocabulary needs at least 3 words for a map")
    vectors = embeddings.table(settings.table)[rows].astype(np.float64)
    coords = project(vectors, settings)
    frame = pd.DataFrame({"word": [embeddings.words[i] for i in rows], "rank": np.arange(1, len(rows) + 1)})
    frame["count"] = embeddings.counts[rows] if embeddings.counts is not None else 0
    for axis, column in zip("xyz", coords.T, strict=False):
        frame[axis] = column
    frame["cluster"] = cluster(vectors, settings.clusters, settings.seed)
    return frame
