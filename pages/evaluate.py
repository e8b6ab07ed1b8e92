"""Evaluate page: word-similarity and analogy scores from gensim's test sets, and odd-one-out questions."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from core.explore.evaluate import EvaluationError, Report, full_report, load_evaluation, odd_one_out, save_evaluation
from core.explore.projection import vectors_stamp
from core.explore.vectors import Embeddings, UnknownWordError, parse_words
from core.runs import RunError
from core.runs.records import WordListError
from pages.parts.charts import analogy_figure
from pages.parts.sources import Source, explorer_page
from pages.parts.text import literal

REPORTS = "evaluation_reports"  # session key: reports of imported files, by vectors key (runs keep theirs on disk)


def saved_report(source: Source, table: str) -> Report | None:
    """The last report of this table of the vectors: from the run folder, or this session for an imported file."""
    if source.run is None:
        return st.session_state.get(REPORTS, {}).get((source.key, table))
    try:
        return load_evaluation(source.run, table)
    except RunError as exc:
        st.warning(literal(exc))
        return None


def evaluate(source: Source, emb: Embeddings, which: str) -> None:
    """Score the vectors and keep the report with the run (or in this session for a file)."""
    with st.spinner("Scoring WordSim353, SimLex999 and 19,544 analogy questions…", show_time=True):
        report = full_report(emb, which, with_oov=True, source=source.name)
    if source.run is not None:
        save_evaluation(source.run, report)
    else:
        st.session_state.setdefault(REPORTS, {})[(source.key, which)] = report


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def show_report(report: Report, source: Source) -> None:
    when = dt.datetime.fromtimestamp(report.evaluated_at).strftime("%Y-%m-%d %H:%M")
    st.caption(f"{report.table} vectors, {report.words:,} words × {report.dim}, evaluated {when}")
    if source.run is not None and vectors_stamp(source.run) > report.evaluated_at:
        st.info("The run's vectors changed after this evaluation: evaluate again for current scores.")
    total = report.analogy_total
    columns = st.columns(4)
    for column, pair in zip(columns, report.pairs, strict=False):
        spearman = "–" if pair.spearman is None else f"{pair.spearman:.3f}"
        column.metric(f"{pair.name} Spearman", spearman, help=f"{pair.covered} of {pair.total} pairs covered")
    columns[2].metric("Analogy 3CosAdd", percent(total.accuracy_add), help=f"{total.questions:,} of {total.total:,}")
    columns[3].metric("Analogy 3CosMul", percent(total.accuracy_mul), help="gensim's most_similar_cosmul")
    spearman = {"Spearman": st.column_config.NumberColumn(format="%.3f")}  # as the metrics above read
    st.dataframe(pd.DataFrame(report.similarity_rows()), hide_index=True, width="stretch", column_config=spearman)
    with st.expander("Out-of-vocabulary pairs (left out of the correlations)"):
        for pair in report.pairs:
            oov = pair.oov or []
            st.write(f"**{pair.name}**: {len(oov)} pairs")
            st.dataframe(pd.DataFrame(oov, columns=["word 1", "word 2"]), hide_index=True, height=200)
    st.subheader("Google analogies by section")
    rows = report.analogy_rows()
    st.plotly_chart(analogy_figure(rows[:-1]), width="stretch")
    table = pd.DataFrame(rows)
    table[list(ACCURACY)] = table[list(ACCURACY)] * 100  # percent, each with one decimal (0%, 2.38%, 0.89% before)
    st.dataframe(table, hide_index=True, width="stretch", height="content", column_config=ANALOGY_COLUMNS)


ACCURACY = ("3CosAdd", "3CosMul")
ANALOGY_COLUMNS = {
    "questions": st.column_config.NumberColumn("answerable", help="questions whose four words the vectors know"),
    "in the set": st.column_config.NumberColumn("in the set", help="questions in Google's set"),
    **{name: st.column_config.NumberColumn(name, format="%.1f%%", help="of the answerable") for name in ACCURACY},
}


def odd_one_out_section(emb: Embeddings, which: str) -> None:
    st.subheader("Odd one out")
    text = st.text_input("Words (comma separated)", key="ev_odd", placeholder="breakfast, lunch, dinner, car")
    try:
        words = parse_words(text, "odd-one-out words")
        if words:
            st.success(f"Odd one out: **{literal(odd_one_out(emb, words, which))}**")
    except (UnknownWordError, WordListError) as exc:
        st.warning(literal(exc))
    except EvaluationError as exc:
        st.info(literal(exc))


INTRO = (
    "How good are the vectors? Spearman correlation with human similarity judgements (WordSim353, SimLex999) "
    "and accuracy on Google's analogy questions, scored by gensim's own code on its bundled test sets."
)
if chosen := explorer_page("evaluate", "Evaluate", "ev_run", INTRO):
    source, vectors = chosen
    table = st.radio("Table", vectors.tables, horizontal=True, key="ev_table")
    if st.button("Evaluate", type="primary"):
        try:
            evaluate(source, vectors, table)
        except EvaluationError as exc:
            st.error(literal(exc))
        except OSError as exc:  # a read-only run folder, a full disk: the saved report stays as it was
            st.error(f"The report could not be saved: {literal(exc.strerror or exc)} ({literal(exc.filename or '')})")
    report = saved_report(source, table)
    if report is None:
        st.info("Not evaluated yet: press **Evaluate** (a few seconds for PTB-sized vocabularies).")
    else:
        show_report(report, source)
    st.divider()
    odd_one_out_section(vectors, table)
