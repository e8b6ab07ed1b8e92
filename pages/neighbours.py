"""Neighbours page: nearest words by cosine similarity, analogies and the similarity of two words."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.data.vocab import UNK
from core.explore.export import DOWNLOADS, export_bytes, neighbors_csv
from core.explore.vectors import TABLES, Embeddings, UnknownWordError, parse_words
from core.runs.records import WordListError
from pages.parts.charts import similarity_bars
from pages.parts.sources import Source, explorer_page
from pages.parts.text import literal
from pages.parts.words import show_unknown

TABLE_HELP = {
    "center": "center vectors v (the book's choice for queries)",
    "context": "context vectors u",
    "sum": "v + u, often a little better on similarity tests",
}
QUERY_HELP = "any word of the vocabulary; press Enter. A word it lacks gets the closest spellings to pick from."
PREFERRED_WORDS = ("chip", "bank", "monday", "intel", "government")
FORMAT_LABELS = {
    "word2vec": "word2vec text (.txt; gensim, fastText and most tools read it)",
    "word2vec-binary": "word2vec binary (.bin; smaller, exact float32)",
    "projector": "TensorFlow Embedding Projector (vectors.tsv + metadata.tsv, zipped)",
}


COSINE = {"cosine": st.column_config.NumberColumn(format="%.3f")}  # every cosine on the page has three decimals


def pairs_frame(pairs: list[tuple[str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(pairs, columns=["word", "cosine"])
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame


def default_word(emb: Embeddings) -> str:
    return next((w for w in PREFERRED_WORDS if w in emb.index), emb.vocabulary[0])


def neighbours_section(emb: Embeddings) -> None:
    if not st.session_state.get("nb_word_seeded"):  # first visit: a shared link's ?word=, else a familiar word
        st.session_state["nb_word"] = st.query_params.get("word") or default_word(emb)
        st.session_state["nb_word_seeded"] = True
    left, mid, right = st.columns([2, 1, 2])
    # A plain text box: what is typed is what is asked. Streamlit's selectbox with new options (1.67) replaced
    # the text with the last keystroke whenever it spelled the selected word on the way (chip -> chipp gave p).
    word = left.text_input("Query word", key="nb_word", help=QUERY_HELP).strip()
    k = mid.number_input("k", min_value=1, max_value=100, value=10, key="nb_k")
    which = right.radio(
        "Table",
        emb.tables,
        key="nb_table",
        horizontal=True,
        format_func=lambda t: t,
        help="; ".join(f"{t}: {h}" for t, h in TABLE_HELP.items()),
    )
    if not word:  # an emptied box asks nothing, rather than a default word
        st.caption("Type a word to see its nearest neighbours.")
        return
    st.query_params["word"] = word  # the address bar now links to this query
    try:
        pairs = emb.neighbors(word, int(k), which)
    except UnknownWordError as exc:
        show_unknown(exc, key="nb_word")
        return
    chart, table = st.columns([3, 2])
    chart.plotly_chart(similarity_bars(pairs, f"Nearest to “{word}” ({which})"), width="stretch")
    table.dataframe(pairs_frame(pairs), hide_index=True, width="stretch", column_config=COSINE)
    if emb.context is None:
        return
    with st.expander("Center, context and sum side by side"):
        for column, table_name in zip(st.columns(len(TABLES)), TABLES, strict=True):
            column.caption(TABLE_HELP[table_name])
            frame = pairs_frame(emb.neighbors(word, int(k), table_name))
            column.dataframe(frame, hide_index=True, width="stretch", column_config=COSINE)


def analogy_section(emb: Embeddings) -> None:
    """a : b :: c : ? with the top answers ranked and scored, not the best alone: the expected word is often
    second or third."""
    st.subheader("Analogy: a is to b as c is to ?")
    *columns, count = st.columns([2, 2, 2, 1])
    a, b, c = (col.text_input(label, key=f"an_{label}").strip() for col, label in zip(columns, "abc", strict=True))
    k = int(count.number_input("answers", min_value=1, max_value=100, value=10, key="an_k"))
    if not (a and b and c):
        st.caption("Fill in three words, e.g. “he : his :: she : ?”. The answers maximise cos(x, b − a + c).")
        return
    try:
        answers = emb.analogy(a, b, c, k=k)
    except UnknownWordError as exc:
        show_unknown(exc)
        return
    if not answers:
        st.markdown("No answer.")
        return
    st.markdown(f"{literal(a)} : {literal(b)} :: {literal(c)} : **{literal(answers[0][0])}**")
    chart, table = st.columns([3, 2])
    title = f"{a} : {b} :: {c} : ? (top {len(answers)})"
    chart.plotly_chart(similarity_bars(answers, title), width="stretch", key="an_chart")
    table.dataframe(pairs_frame(answers), hide_index=True, width="stretch", column_config=COSINE)


def similarity_section(emb: Embeddings) -> None:
    st.subheader("Similarity of two words")
    left, right = st.columns(2)
    first = left.text_input("First word", key="sim_a").strip()
    second = right.text_input("Second word", key="sim_b").strip()
    if not (first and second):
        return
    try:
        st.metric(f"cos({literal(first)}, {literal(second)})", f"{emb.similarity(first, second):.3f}")
    except UnknownWordError as exc:
        show_unknown(exc)


def export_section(source: Source, emb: Embeddings) -> None:
    """Downloads: the vectors in a chosen format, and neighbour lists as CSV."""
    st.subheader("Export")
    left, right = st.columns([3, 1])
    fmt = left.selectbox("Format", list(FORMAT_LABELS), format_func=FORMAT_LABELS.get, key="ex_format")
    which = right.radio("Table", emb.tables, horizontal=True, key="ex_table")
    suffix, mime = DOWNLOADS[fmt]
    stem = source.file_stem
    st.download_button(
        "Download vectors",
        data=lambda: export_bytes(emb, fmt, which),
        file_name=f"{stem}-{which}{suffix}",
        mime=mime,
        on_click="ignore",
        icon=":material/download:",
    )
    left, right = st.columns([3, 1])
    words = left.text_input(
        "Neighbour lists for these words (comma separated)", key="ex_words", placeholder="empty: the query word"
    )
    k = int(right.number_input("Neighbours per word", 1, 1000, 10, key="ex_k"))
    try:
        asked = parse_words(words or st.session_state.get("nb_word") or "", "words for neighbour lists")
    except WordListError as exc:
        st.warning(literal(f"{exc}."))
        asked = []
    wanted = [w for w in asked if w in emb.index and w != UNK]
    if unknown := [w for w in asked if w not in wanted]:  # left out and named; the others still download
        st.warning(literal(f"Not in the vocabulary, left out of the CSV: {', '.join(unknown)}."))
    table = neighbors_csv(emb, wanted, k, which)
    st.download_button(
        "Download neighbours (CSV)",
        data=table.encode("utf-8"),
        file_name=f"{stem}-neighbours.csv",
        mime="text/csv",
        on_click="ignore",
        disabled=not wanted,
        icon=":material/download:",
    )


if chosen := explorer_page("neighbours", "Neighbours", "nb_run"):
    source, vectors = chosen
    neighbours_section(vectors)
    st.divider()
    analogy_section(vectors)
    st.divider()
    similarity_section(vectors)
    st.divider()
    export_section(source, vectors)
