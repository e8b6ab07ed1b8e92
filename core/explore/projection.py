"""2-D and 3-D maps of word vectors: PCA, t-SNE or UMAP of the most frequent words, with k-means clusters.

Vectors are scaled to unit length first, so distances on the map follow cosine similarity, the
measure every query uses. A map always contains its focus words (a searched word and its neighbours),
or shows them alone ("isolate"). t-SNE reports its layout every few iterations through a callback,
which may raise to cancel it; all of it runs on at most `MAP_THREADS` threads, so a map never takes
more than its share of a small shared machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import astuple, dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

from core.explore.vectors import MAX_NEIGHBOURS, Embeddings, Table, row_norms, unit_rows
from core.runs import Run
from core.runs.records import check_word_list

Method = Literal["pca", "tsne", "umap"]
METHODS: tuple[Method, ...] = ("pca", "tsne", "umap")
TSNE_MAX_WORDS = 5_000  # t-SNE (and UMAP) slow down faster than n grows; PCA takes any number of words
# One thread: openTSNE's second thread measured slower on two busy cores (its workers spin while they wait).
MAP_THREADS = 1
FRAME_EVERY = 50  # t-SNE iterations between two progress reports
# (iteration, iterations in all, coordinates so far); it may raise to cancel the computation.
Progress = Callable[[int, int, np.ndarray], None]
MAP_MAX_WORDS = 20_000  # a browser draws more points than this sluggishly: larger maps show a sample
ALWAYS_SHOWN = 2_000  # the most frequent words stay on a sampled map, so labels and familiar words remain
MAX_FOCUS_WORDS = MAX_NEIGHBOURS  # a searched word and its neighbours, isolated or not


@dataclass(frozen=True)
class Settings:
    """Everything that changes a map; hashable, so it can key a cache."""

    method: Method = "pca"
    n_words: int = 1000
    dims: int = 2
    table: Table = "center"
    perplexity: float = 30.0
    max_iter: int = 500
    early_exaggeration: float = 12.0
    clusters: int = 8
    seed: int = 0
    focus: tuple[str, ...] = ()  # words the map must contain: a searched word and its neighbours
    isolate: bool = False  # map the focus words alone


def capped(settings: Settings) -> tuple[Settings, str | None]:
    """The settings with t-SNE and UMAP held to `TSNE_MAX_WORDS` words, and a note saying so when it cut."""
    if settings.method == "pca" or settings.n_words <= TSNE_MAX_WORDS:
        return settings, None
    name = "t-SNE" if settings.method == "tsne" else "UMAP"
    note = (
        f"{name} is limited to the {TSNE_MAX_WORDS:,} most frequent words here ({settings.n_words:,} asked); "
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
    """The rows a map shows: the frequent rows (past `MAP_MAX_WORDS` the top ones plus a seeded sample) and the
    focus words that are not among them; or, isolated, the focus words alone. Rows of norm 0 (padding in
    GloVe and fastText files) have no direction, so no place on a map of cosines: they are left off."""
    focus = check_word_list(list(settings.focus), "map words", MAX_FOCUS_WORDS)
    rows = np.array([embeddings.lookup(w) for w in focus], dtype=np.int64)
    if not settings.isolate:
        frequent = frequent_rows(embeddings, settings.n_words)
        if len(frequent) > MAP_MAX_WORDS:
            rng = np.random.default_rng(settings.seed)
            rest = rng.choice(frequent[ALWAYS_SHOWN:], MAP_MAX_WORDS - ALWAYS_SHOWN, replace=False)
            frequent = np.concatenate([frequent[:ALWAYS_SHOWN], np.sort(rest)])
        rows = np.concatenate([frequent, rows[~np.isin(rows, frequent)]])
    return rows[row_norms(embeddings.table(settings.table)[rows]) > 0]


def preload_tsne() -> None:
    """Import openTSNE (0.7-2.4 s here), e.g. in the background when the map page opens, so that the
    first t-SNE request does not wait for it."""
    import openTSNE  # noqa: F401


def project(vectors: np.ndarray, settings: Settings, progress: Progress | None = None) -> np.ndarray:
    """Coordinates (rows, dims) of the unit-length `vectors` by PCA, t-SNE or UMAP, on `MAP_THREADS` threads."""
    if settings.method not in METHODS:
        raise ValueError(f"unknown projection method {settings.method!r}; choose one of {', '.join(METHODS)}")
    unit = unit_rows(vectors)
    with threadpool_limits(MAP_THREADS):
        if settings.method == "pca":
            return PCA(n_components=settings.dims, random_state=settings.seed).fit_transform(unit)
        if settings.method == "umap":
            return umap_layout(unit, settings)
        return tsne_layout(unit, settings, progress)


def tsne_layout(unit: np.ndarray, settings: Settings, progress: Progress | None) -> np.ndarray:
    """openTSNE with exact cosine neighbours (maps hold at most a few thousand words) and Barnes-Hut gradients
    at angle 0.8 (1,000 words: 2.0-2.3 CPU seconds for 500 iterations against 3.3-4.6 at 0.5).

    A quarter of the iterations exaggerate early, the rest refine, each phase a multiple of `FRAME_EVERY`
    iterations; `progress` sees the layout every `FRAME_EVERY` iterations.
    """
    from openTSNE import TSNE

    early = FRAME_EVERY * max(1, round(settings.max_iter / 4 / FRAME_EVERY))
    total = early + FRAME_EVERY * max(1, round((settings.max_iter - early) / FRAME_EVERY))
    reports = 0

    def report(iteration: int, error: float, embedding: np.ndarray) -> None:
        nonlocal reports
        reports += 1
        if progress is not None:
            progress(reports * FRAME_EVERY, total, np.asarray(embedding))

    tsne = TSNE(
        n_components=settings.dims,
        perplexity=safe_perplexity(settings.perplexity, len(unit)),
        early_exaggeration=settings.early_exaggeration,
        early_exaggeration_iter=early,
        n_iter=total - early,
        metric="cosine",
        neighbors="exact",
        negative_gradient_method="bh",
        theta=0.8,
        initialization="pca",
        n_jobs=MAP_THREADS,
        random_state=settings.seed,
        callbacks=report,
        callbacks_every_iters=FRAME_EVERY,
    )
    return np.asarray(tsne.fit(unit))


def umap_layout(unit: np.ndarray, settings: Settings) -> np.ndarray:
    """UMAP (umap-learn) with cosine distances; a seed makes it single-threaded and reproducible."""
    from umap import UMAP

    neighbours = int(max(2, min(15, len(unit) - 1)))
    reducer = UMAP(
        n_components=settings.dims,
        n_neighbors=neighbours,
        metric="cosine",
        init="pca" if len(unit) > settings.dims + 1 else "random",
        random_state=settings.seed,
        n_jobs=1,
    )
    return reducer.fit_transform(unit)


def safe_perplexity(perplexity: float, rows: int) -> float:
    """t-SNE needs perplexity < number of points; keep the asked value where it fits."""
    return float(min(perplexity, max(1.0, (rows - 1) / 3)))


def cluster(vectors: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k-means labels on unit-length vectors (k is clipped to the number of rows)."""
    unit = unit_rows(vectors)
    k = max(1, min(k, len(unit)))
    with threadpool_limits(MAP_THREADS):
        return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(unit)


def word_map(embeddings: Embeddings, settings: Settings, progress: Progress | None = None) -> pd.DataFrame:
    """One row per word on the map: word, rank, count, coordinates x, y (and z), k-means cluster, focus."""
    settings, _ = capped(settings)
    rows = map_rows(embeddings, settings)
    if len(rows) < 3:
        raise ValueError("a map needs at least 3 words")
    vectors = embeddings.table(settings.table)[rows].astype(np.float64)
    coords = project(vectors, settings, progress)
    rank = rows - embeddings.first_word + 1
    frame = pd.DataFrame({"word": [embeddings.words[i] for i in rows], "rank": rank})
    frame["count"] = embeddings.counts[rows] if embeddings.counts is not None else 0
    for axis, column in zip("xyz", coords.T, strict=False):
        frame[axis] = column
    frame["cluster"] = cluster(vectors, settings.clusters, settings.seed)
    frame["focus"] = frame["word"].isin(settings.focus)
    return frame
