"""Projection page: PCA or t-SNE maps of the most frequent words, with a query word and its neighbours marked."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from core.projection import Settings, cache_key, capped, sample_note, word_map
from core.query import Embeddings, UnknownWordError
from pages.charts import map_figure
from pages.sources import Source, explorer_page
from pages.text import literal

METHOD_LABELS = {"pca": "PCA (instant, linear)", "tsne": "t-SNE (slower, keeps local neighbourhoods)"}


@st.cache_data(max_entries=16, show_spinner=False)
def cached_map(key: tuple, _source: Source, _settings: Settings) -> pd.DataFrame:
    """One map per `key` (the vectors' key and the settings); the underscored arguments are not hashed."""
    return word_map(_source.embeddings(), _settings)


def settings_controls(emb: Embeddings) -> tuple[Settings, int, str]:
    """The map settings, how many words get text labels, and the colouring."""
    method = st.radio("Method", list(METHOD_LABELS), format_func=METHOD_LABELS.get, key="pj_method", horizontal=True)
    top = max(3, len(emb.vocabulary))
    left, mid, right = st.columns(3)
    n_words = left.number_input("Words (most frequent)", 3, top, min(1000, top), step=100, key="pj_n")
    labels = mid.number_input("Text labels on the top", 0, top, min(40, top), key="pj_labels")
    dims = right.radio("Dimensions", (2, 3), horizontal=True, key="pj_dims")
    left, mid, right = st.columns(3)
    table = left.radio("Table", emb.tables, horizontal=True, key="pj_table")
    color_by = mid.radio("Colour by", ("frequency", "cluster"), horizontal=True, key="pj_color")
    clusters = right.number_input("k-means clusters", 2, 50, 8, key="pj_k")
    settings = Settings(method=method, n_words=int(n_words), dims=int(dims), table=table, clusters=int(clusters))
    if method == "tsne":
        with st.expander("t-SNE settings", expanded=True):
            a, b, c, d = st.columns(4)
            settings = replace(
                settings,
                perplexity=a.number_input("Perplexity", 2.0, 100.0, 30.0, help="effective neighbours per point"),
                max_iter=int(b.number_input("Iterations", 250, 5000, 1000, step=250)),
                early_exaggeration=c.number_input("Early exaggeration", 1.0, 50.0, 12.0),
                seed=int(d.number_input("Seed", 0, 2**31 - 1, 0)),
            )
    return settings, int(labels), color_by


def highlight_controls(emb: Embeddings) -> tuple[str | None, list[str]]:
    """A query word and its k neighbours to mark on the map."""
    left, right = st.columns([3, 1])
    word = left.text_input("Highlight a word and its neighbours", key="pj_query").strip()
    k = int(right.number_input("Neighbours", 1, 50, 10, key="pj_query_k"))
    if not word:
        return None, []
    try:
        return word, [word] + [w for w, _ in emb.neighbors(word, k)]
    except UnknownWordError as exc:
        st.warning(literal(exc))
        return None, []


def draw_map(source: Source, emb: Embeddings) -> None:
    asked, labels, color_by = settings_controls(emb)
    query, marked = highlight_controls(emb)
    settings, note = capped(asked)
    for warning in (note, sample_note(emb, settings)):
        if warning:
            st.warning(warning)
    message = "Running t-SNE (this takes a while on 1,000 words)…" if settings.method == "tsne" else "Projecting…"
    try:
        with st.spinner(message, show_time=True):
            frame = cached_map(cache_key(source.key, settings), source, settings)
    except ValueError as exc:
        st.error(f"No map for these vectors: {literal(exc)}")
        return
    missing = [w for w in marked if w not in set(frame["word"])]
    if missing:
        st.caption(f"Outside the {len(frame)} words on the map: {literal(', '.join(missing))}")
    st.plotly_chart(map_figure(frame, color_by, labels, marked, query), width="stretch")
    st.download_button(
        "Download coordinates (CSV)",
        frame.to_csv(index=False).encode("utf-8"),
        file_name=f"{source.file_stem}-{settings.method}-{settings.dims}d.csv",
        mime="text/csv",
        on_click="ignore",
    )


if chosen := explorer_page("projection", "Projection", "pj_run"):
    draw_map(*chosen)
