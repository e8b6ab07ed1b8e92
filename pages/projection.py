"""Projection page: PCA, t-SNE or UMAP maps you can search, isolate and click.

A searched word and its neighbours are always on the map (added to the frequent words, ringed and labelled);
"Isolate" maps them alone; clicking a point lists its neighbours beside the map. t-SNE draws its layout every
few iterations; a new request or a closed tab stops it, because drawing a frame is where Streamlit stops a
script that is no longer wanted.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import replace

import numpy as np
import pandas as pd
import streamlit as st

from core.explore.projection import Settings, cache_key, capped, map_rows, preload_tsne, sample_note, word_map
from core.explore.vectors import Embeddings, UnknownWordError
from pages.parts.charts import map_figure, progress_figure
from pages.parts.sources import Source, explorer_page
from pages.parts.text import literal

METHOD_LABELS = {
    "pca": "PCA (instant, linear)",
    "tsne": "t-SNE (keeps local neighbourhoods, shows its progress)",
    "umap": "UMAP (local and global structure; the first map compiles for a while)",
}
MAPS_KEPT = 16


@st.cache_resource
def preloading() -> threading.Thread:
    """Once per server: t-SNE's library imports in the background while the user looks at the first map."""
    thread = threading.Thread(target=preload_tsne, name="preload-tsne", daemon=True)
    thread.start()
    return thread


@st.cache_resource
def map_store() -> tuple[threading.Lock, OrderedDict[tuple, pd.DataFrame]]:
    """Finished maps shared by every session, newest last; a cancelled map is never stored."""
    return threading.Lock(), OrderedDict()


def stored_map(key: tuple) -> pd.DataFrame | None:
    lock, maps = map_store()
    with lock:
        if key in maps:
            maps.move_to_end(key)
        return maps.get(key)


def store_map(key: tuple, frame: pd.DataFrame) -> None:
    lock, maps = map_store()
    with lock:
        maps[key] = frame
        while len(maps) > MAPS_KEPT:
            maps.popitem(last=False)


def word_count(source: Source, top: int) -> int:
    """The number of frequent words to map; it starts at 1,000 (or the vocabulary) for each new source,
    so a small vocabulary's count does not carry over to the next run."""
    if st.session_state.get("pj_n_source") != source.key:
        st.session_state["pj_n_source"] = source.key
        st.session_state["pj_n"] = min(1000, top)
    return int(st.number_input("Words (most frequent)", 3, top, step=100, key="pj_n"))


def settings_controls(source: Source, emb: Embeddings) -> tuple[Settings, int, str]:
    """The map settings, how many words get text labels, and the colouring."""
    method = st.radio("Method", list(METHOD_LABELS), format_func=METHOD_LABELS.get, key="pj_method", horizontal=True)
    top = max(3, len(emb.vocabulary))
    left, mid, right = st.columns(3)
    with left:
        n_words = word_count(source, top)
    labels = mid.number_input("Text labels (at most, never overlapping)", 0, 500, 40, key="pj_labels")
    dims = right.radio("Dimensions", (2, 3), horizontal=True, key="pj_dims")
    left, mid, right = st.columns(3)
    table = left.radio("Table", emb.tables, horizontal=True, key="pj_table")
    color_by = mid.radio("Colour by", ("cluster", "frequency"), horizontal=True, key="pj_color")
    clusters = right.number_input("k-means clusters", 2, 50, 8, key="pj_k")
    settings = Settings(method=method, n_words=n_words, dims=int(dims), table=table, clusters=int(clusters))
    if method == "tsne":
        with st.expander("t-SNE settings"):
            a, b, c, d = st.columns(4)
            settings = replace(
                settings,
                perplexity=a.number_input("Perplexity", 2.0, 100.0, 30.0, help="Effective neighbours per point."),
                max_iter=int(b.number_input("Iterations", 100, 5000, 500, step=100)),
                early_exaggeration=c.number_input("Early exaggeration", 1.0, 50.0, 12.0),
                seed=int(d.number_input("Seed", 0, 2**31 - 1, 0)),
            )
    return settings, int(labels), color_by


def focus_controls(emb: Embeddings, settings: Settings) -> tuple[str | None, Settings]:
    """A searched word: it and its neighbours join the map, or make up the whole map when isolated."""
    left, mid, right = st.columns([3, 1, 1])
    word = left.text_input("Search a word (it and its neighbours are always on the map)", key="pj_query").strip()
    k = int(mid.number_input("Neighbours", 1, 100, 10, key="pj_query_k"))
    isolate = right.toggle("Isolate", key="pj_isolate", help="Map only the word and its nearest neighbours.")
    size = 50
    if isolate:
        size = int(right.number_input("Words in the isolated map", 3, 1000, 50, key="pj_isolate_n"))
    if not word:
        if isolate:
            st.info("Type a word to isolate it with its neighbours.")
        return None, settings
    try:
        neighbours = emb.neighbors(word, size - 1 if isolate else k, settings.table)
    except UnknownWordError as exc:
        st.warning(literal(exc))
        return None, settings
    focus = (word, *(w for w, _ in neighbours))
    return word, replace(settings, focus=focus, isolate=isolate)


def compute_map(source: Source, emb: Embeddings, settings: Settings, frame_box) -> pd.DataFrame:
    """Project the map, drawing t-SNE's layout into `frame_box` as it goes (every drawing is a point where a
    newer request or a closed tab stops this script)."""
    words = [emb.words[i] for i in map_rows(emb, settings)]
    name = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}[settings.method]

    def progress(done: int, total: int, coords: np.ndarray) -> None:
        title = f"t-SNE of {len(words):,} words: iteration {done} of {total}"
        frame_box.plotly_chart(progress_figure(coords, words, title), width="stretch")

    with st.spinner(f"{name} of {len(words):,} words…", show_time=True):
        return word_map(emb, settings, progress if settings.method == "tsne" else None)


def neighbours_table(emb: Embeddings, word: str, table: str) -> None:
    """The clicked (or searched) word's ten nearest neighbours, cosines with three decimals."""
    st.markdown(f"**Neighbours of {literal(word)}**")
    try:
        rows = emb.neighbors(word, 10, table)
    except UnknownWordError as exc:
        st.caption(literal(exc))
        return
    frame = pd.DataFrame(rows, columns=["word", "cosine"])
    config = {"cosine": st.column_config.NumberColumn(format="%.3f")}
    st.dataframe(frame, hide_index=True, column_config=config, key="pj_neighbours")


def clicked_word(event, frame: pd.DataFrame) -> str | None:
    """The word of the clicked point: each point carries its row of the map as `customdata`."""
    for point in (event or {}).get("selection", {}).get("points", []):
        row = point.get("customdata")
        row = row[0] if isinstance(row, list) and row else row
        if isinstance(row, (int, float)) and 0 <= int(row) < len(frame):
            return str(frame["word"].iloc[int(row)])
    return None


def draw_map(source: Source, emb: Embeddings) -> None:
    asked, labels, color_by = settings_controls(source, emb)
    query, asked = focus_controls(emb, asked)
    settings, note = capped(asked)
    for warning in (note, sample_note(emb, settings)):
        if warning:
            st.warning(warning)
    key = cache_key(source.key, settings)
    left, right = st.columns([4, 1])
    frame_box = left.empty()
    frame = stored_map(key)
    if frame is None:
        try:
            frame = compute_map(source, emb, settings, frame_box)
        except ValueError as exc:
            st.error(f"No map for these vectors: {literal(exc)}")
            return
        store_map(key, frame)
    name = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}[settings.method]
    title = f"{name} of {len(frame):,} words" + (f" around {query}" if settings.isolate else "")
    frame = frame.reset_index(drop=True)
    figure = map_figure(frame, color_by, labels, query, title)
    with frame_box.container():
        event = st.plotly_chart(figure, width="stretch", on_select="rerun", selection_mode="points", key="pj_map")
    with right:
        chosen = clicked_word(event, frame) or query
        if chosen:
            neighbours_table(emb, chosen, settings.table)
        else:
            st.caption("Click a point to list its neighbours here.")
    st.download_button(
        "Download coordinates (CSV)",
        frame.to_csv(index=False).encode("utf-8"),
        file_name=f"{source.file_stem}-{settings.method}-{settings.dims}d.csv",
        mime="text/csv",
        on_click="ignore",
    )


if chosen := explorer_page("projection", "Projection", "pj_run"):
    preloading()
    draw_map(*chosen)
