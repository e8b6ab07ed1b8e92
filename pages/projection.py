"""Projection page: PCA, t-SNE or UMAP maps you can search, isolate, click and label.

The map is the page: the source, the search and the neighbour list sit in the sidebar, the map's settings in
one row above it. A searched word and its neighbours are always on the map (added to the frequent words,
ringed and labelled); "Isolate" maps them alone; a click rings the clicked word and its neighbours and lists
them; "Label these" labels a cluster or a box/lasso selection. Labels are placed in pixel space without
overlap (`pages.parts.charts.place_map_labels`).

t-SNE draws its layout every few iterations; a new request or a closed tab stops it, because drawing a frame
is where Streamlit stops a script that is no longer wanted. Everything but the map is drawn before the map
computes, and the map's and the download's places are held by placeholders, so no control of the last run
is left greyed out (stale) while a map computes.
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
from pages.parts.charts import MapLabels, MapSize, map_figure, progress_figure
from pages.parts.common import map_page_style
from pages.parts.sources import Source, explorer_page
from pages.parts.text import literal

METHOD_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
METHOD_HELP = (
    "PCA: instant, linear. t-SNE: keeps local neighbourhoods, shows its progress. UMAP: local and global "
    "structure; the first map compiles for a while."
)
MAP_SIZES = {
    "1040 × 820 (a 1400-px window)": MapSize(),
    "1400 × 1000": MapSize(width=1400, height=1000),
    "800 × 600": MapSize(width=800, height=600),
}
MAPS_KEPT = 16
CLICKED, SELECTED = "pj_clicked", "pj_selected"  # session keys: the clicked word, the box/lasso-selected words
MAX_SELECTED = 300  # words of a selection that compete for labels


# This page's own style: the main column's padding (Streamlit's default: 5 rem at the sides, 6 rem on top)
# narrowed, so that a 1040-px map fits beside the sidebar of a 1400-px window; and no retained map. While a
# script runs, Streamlit keeps showing, greyed, each widget of the last run that this run has not drawn yet;
# a chart with selections is a widget whose identity is its figure, so while a new map computes the last
# one stayed below it as a greyed ghost until the run ended.
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


def word_count(source: Source, top: int, column) -> int:
    """The number of frequent words to map; it starts at 1,000 (or the vocabulary) for each new source,
    so a small vocabulary's count does not carry over to the next run."""
    if st.session_state.get("pj_n_source") != source.key:
        st.session_state["pj_n_source"] = source.key
        st.session_state["pj_n"] = min(1000, top)
    return int(column.number_input("Words (most frequent)", 3, top, step=100, key="pj_n"))


def settings_bar(source: Source, emb: Embeddings) -> tuple[Settings, int, str, MapSize]:
    """One row above the map: method, dimensions, colouring, words, and a popover with the rest. Returns the
    map settings, how many frequent words may get text labels, the colouring and the map's size."""
    method_box, dims_box, colour_box, words_box, more = st.columns([1.6, 0.9, 1.5, 1.2, 1], vertical_alignment="bottom")
    method = method_box.radio(
        "Method", list(METHOD_NAMES), format_func=METHOD_NAMES.get, key="pj_method", horizontal=True, help=METHOD_HELP
    )
    dims = dims_box.radio("Dimensions", (2, 3), horizontal=True, key="pj_dims")
    color_by = colour_box.radio("Colour by", ("cluster", "frequency"), horizontal=True, key="pj_color")
    n_words = word_count(source, max(3, len(emb.vocabulary)), words_box)
    with more.popover("Map settings", width="stretch"):
        table = st.radio("Table", emb.tables, horizontal=True, key="pj_table")
        clusters = st.number_input("k-means clusters", 2, 50, 8, key="pj_k")
        labels = st.number_input("Labels of frequent words (at most, where they fit)", 0, 500, 40, key="pj_labels")
        size = MAP_SIZES[
            st.selectbox(
                "Map size (pixels)",
                list(MAP_SIZES),
                key="pj_size",
                help="Labels are placed for this exact size: choose one that fits beside the sidebar.",
            )
        ]
        settings = Settings(method=method, n_words=n_words, dims=int(dims), table=table, clusters=int(clusters))
        if method == "tsne":
            st.markdown("**t-SNE**")
            settings = replace(
                settings,
                perplexity=st.number_input(
                    "Perplexity", 2.0, 100.0, 30.0, key="pj_perplexity", help="Effective neighbours per point."
                ),
                max_iter=int(st.number_input("Iterations", 100, 5000, 500, step=100, key="pj_iterations")),
                early_exaggeration=st.number_input("Early exaggeration", 1.0, 50.0, 12.0, key="pj_exaggeration"),
                seed=int(st.number_input("Seed", 0, 2**31 - 1, 0, key="pj_seed")),
            )
    return settings, int(labels), color_by, size


def focus_controls(emb: Embeddings, settings: Settings) -> tuple[str | None, tuple[str, ...], Settings]:
    """A searched word: it and its neighbours join the map, or make up the whole map when isolated. Returns the
    word, the words that must be labelled (it and its `k` neighbours) and the settings."""
    word = st.text_input("Search a word (it and its neighbours are always on the map)", key="pj_query").strip()
    left, right = st.columns(2, vertical_alignment="bottom")
    k = int(left.number_input("Neighbours", 1, 100, 10, key="pj_query_k"))
    isolate = right.toggle("Isolate", key="pj_isolate", help="Map only the word and its nearest neighbours.")
    size = int(st.number_input("Words in the isolated map", 3, 1000, 50, key="pj_isolate_n", disabled=not isolate))
    if not word:
        if isolate:
            st.info("Type a word to isolate it with its neighbours.")
        return None, (), settings
    try:
        neighbours = emb.neighbors(word, max(k, size - 1) if isolate else k, settings.table)
    except UnknownWordError as exc:
        st.warning(literal(exc))
        return None, (), settings
    focus = (word, *(w for w, _ in neighbours))
    if isolate:
        focus = focus[:size]
    return word, focus[: k + 1], replace(settings, focus=focus, isolate=isolate)


def take_selection() -> None:
    """The map's click or box/lasso selection, kept in the session: a click's word is ringed with its neighbours
    and listed, a selection's words are labelled. (The chart itself forgets a selection once it is redrawn.)"""
    event = st.session_state.get("pj_map") or {}
    words = []
    for point in event.get("selection", {}).get("points", []):
        word = point.get("customdata")
        word = word[0] if isinstance(word, list) and word else word
        if isinstance(word, str) and word not in words:
            words.append(word)
    if len(words) == 1:
        st.session_state[CLICKED] = words[0]
    elif len(words) > 1:
        st.session_state[SELECTED] = words[:MAX_SELECTED]


def forget_selection() -> None:
    st.session_state.pop(CLICKED, None)
    st.session_state.pop(SELECTED, None)


def neighbours_table(emb: Embeddings, word: str, table: str) -> list[str]:
    """The clicked (or searched) word's ten nearest neighbours, cosines with three decimals; their words."""
    st.markdown(f"**Neighbours of {literal(word)}**")
    try:
        rows = emb.neighbors(word, 10, table)
    except UnknownWordError as exc:
        st.caption(literal(exc))
        return []
    frame = pd.DataFrame(rows, columns=["word", "cosine"])
    config = {"cosine": st.column_config.NumberColumn(format="%.3f")}
    st.dataframe(frame, hide_index=True, column_config=config, key="pj_neighbours")
    return [w for w, _ in rows]


def label_these(clusters: int) -> int | None:
    """The cluster whose words get labels after the searched and clicked words; a selection's words count too."""
    options = [None, *range(clusters)]
    chosen = st.selectbox(
        "Label these: a cluster",
        options,
        format_func=lambda c: "none" if c is None else f"cluster {c}",
        key="pj_label_cluster",
        help="Its words are labelled where they fit. Or select points with the box or lasso of the map's toolbar.",
    )
    if selected := st.session_state.get(SELECTED):
        st.caption(f"Labelling the {len(selected):,} selected words where they fit.")
    return chosen


def sidebar(emb: Embeddings, settings: Settings) -> tuple[str | None, tuple[str, ...], Settings, list[str], int | None]:
    """Search, the clicked or searched word's neighbours and "label these", all drawn before the map computes."""
    query, must, settings = focus_controls(emb, settings)
    chosen = st.session_state.get(CLICKED) or query
    clicked: list[str] = []
    if chosen:
        neighbours = neighbours_table(emb, chosen, settings.table)
        if chosen == st.session_state.get(CLICKED):
            clicked = [chosen, *neighbours]
    else:
        st.caption("Click a point to list its neighbours here.")
    cluster = label_these(settings.clusters)
    if st.session_state.get(CLICKED) or st.session_state.get(SELECTED):
        st.button("Clear the click and selection", on_click=forget_selection, key="pj_clear")
    return query, must, settings, clicked, cluster


def compute_map(emb: Embeddings, settings: Settings, frame_box, size: MapSize) -> pd.DataFrame:
    """Project the map, drawing t-SNE's layout into `frame_box` as it goes (every drawing is a point where a
    newer request or a closed tab stops this script)."""
    words = [emb.words[i] for i in map_rows(emb, settings)]
    name = METHOD_NAMES[settings.method]

    def progress(done: int, total: int, coords: np.ndarray) -> None:
        title = f"t-SNE of {len(words):,} words: iteration {done} of {total}"
        frame_box.plotly_chart(progress_figure(coords, words, title, size), width="content")

    frame_box.info(f"Mapping {len(words):,} words by {name}…")
    return word_map(emb, settings, progress if settings.method == "tsne" else None)


def wanted_words(frame: pd.DataFrame, clicked: list[str], cluster: int | None, settings: Settings) -> list[str]:
    """Words labelled after the searched group, where they fit: the clicked word and its neighbours, the chosen
    cluster (most frequent first), the selection, then the rest of an isolated map (nearest first)."""
    members = frame[frame["cluster"] == cluster].sort_values("rank")["word"] if cluster is not None else []
    rest = settings.focus if settings.isolate else ()
    return [*clicked, *members, *st.session_state.get(SELECTED, []), *rest]


def download(source: Source, settings: Settings, key: tuple) -> None:
    """The map's coordinates as CSV, made when clicked: the button is drawn before the map computes, so it is
    never a greyed leftover of the last run meanwhile."""

    def coordinates() -> bytes:
        frame = stored_map(key)
        return b"" if frame is None else frame.to_csv(index=False).encode("utf-8")

    st.download_button(
        "Download coordinates (CSV)",
        coordinates,
        file_name=f"{source.file_stem}-{settings.method}-{settings.dims}d.csv",
        mime="text/csv",
        on_click="ignore",
        key="pj_download",
    )


def draw_map(source: Source, emb: Embeddings) -> None:
    asked, limit, color_by, size = settings_bar(source, emb)
    with st.sidebar:
        query, must, asked, clicked, cluster = sidebar(emb, asked)
    settings, note = capped(asked)
    for warning in (note, sample_note(emb, settings)):
        if warning:
            st.warning(warning)
    key = cache_key(source.key, settings)
    with st.sidebar:
        download(source, settings, key)
    frame_box = st.empty()
    frame = stored_map(key)
    if frame is None:
        try:
            frame = compute_map(emb, settings, frame_box, size)
        except ValueError as exc:
            frame_box.error(f"No map for these vectors: {literal(exc)}")
            return
        store_map(key, frame)
    name = METHOD_NAMES[settings.method]
    title = f"{name} of {len(frame):,} words" + (f" around {query}" if settings.isolate else "")
    frame = frame.reset_index(drop=True)
    labels = MapLabels(must=must, wanted=wanted_words(frame, clicked, cluster, settings), limit=limit, clicked=clicked)
    figure = map_figure(frame, color_by, query, title, labels, size, revision=repr(key))
    frame_box.plotly_chart(
        figure,
        width="content",
        on_select=take_selection,
        selection_mode=("points", "box", "lasso"),
        key="pj_map",
    )


map_page_style()
with st.sidebar:
    chosen = explorer_page("projection", "Projection", "pj_run")
if chosen:
    preloading()
    draw_map(*chosen)
