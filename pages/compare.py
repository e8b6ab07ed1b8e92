"""Compare page: two or more runs side by side: loss curves, settings, scores and the neighbours of a word."""

from __future__ import annotations

from itertools import combinations

import pandas as pd
import streamlit as st

from core.config import ConfigError
from core.explore.evaluate import EvaluationError, full_report, load_evaluation, save_evaluation
from core.explore.vectors import Embeddings, UnknownWordError
from core.runs import Run, RunError, list_runs
from pages.parts.charts import compare_loss_figure
from pages.parts.common import embeddings, loss_view, queryable, require_app, scores
from pages.parts.text import literal

COMPARE_WORDS = ("chip", "bank", "monday", "government")


def pick_runs() -> list[Run]:
    """A multi-select over runs that logged any loss; the two newest are chosen at first."""
    runs, damaged = {}, []
    for run in list_runs():
        if not run.has_metrics():
            continue
        try:
            run.config()
            runs[run.name] = run
        except RunError as exc:
            damaged.append(str(exc))
    for reason in damaged:
        st.warning(f"Left out: {literal(reason)}")
    if len(runs) < 2:
        st.info("Comparing needs at least two runs with a loss logged: train another one on the **Train** page.")
        return []
    if "cmp_runs" not in st.session_state:
        st.session_state["cmp_runs"] = list(runs)[:2]
    chosen = st.multiselect("Runs", list(runs), key="cmp_runs", help="pick two or more")
    if len(chosen) < 2:
        st.info("Pick at least two runs.")
    return [runs[name] for name in chosen if name in runs]


def loss_section(runs: list[Run]) -> None:
    st.subheader("Loss")
    left, right = st.columns(2)
    per = left.radio("Curve", ("epoch", "step"), horizontal=True, key="cmp_per", format_func=lambda p: f"per {p}")
    x_axis = right.radio("Against", ("epochs", "seconds"), horizontal=True, key="cmp_x")
    view = loss_view("cmp_loss")
    curves = {run.name: (run.metrics(), run.config().epochs) for run in runs}
    st.plotly_chart(compare_loss_figure(curves, per, x_axis, view), width="stretch")


def config_section(runs: list[Run]) -> None:
    """Every setting with one column per run; rows whose values differ are marked and listed first."""
    st.subheader("Settings")
    configs = {run.name: run.config().to_dict() for run in runs}
    frame = pd.DataFrame(configs).astype(str)
    differs = (frame.nunique(axis=1) > 1).sort_values(ascending=False, kind="stable")
    frame = frame.loc[differs.index]
    frame.insert(0, "differs", differs.map({True: "≠", False: ""}))  # a mark, not a checkbox that looks clickable
    if st.checkbox("Only the settings that differ", value=True, key="cmp_only_diff"):
        frame = frame[differs]
        if frame.empty:
            st.caption("These runs have the same settings.")
            return
    st.dataframe(frame.rename_axis("setting").reset_index(), hide_index=True, width="stretch")


def scores_section(runs: list[Run]) -> None:
    st.subheader("Scores")
    offer = st.empty()  # the button, drawn before the table and taken away once every run is scored
    missing = unscored(runs)
    if missing and offer.button(f"Evaluate {runs_named(len(missing))} without scores", key="cmp_evaluate"):
        evaluate_runs(missing)
        offer.empty()  # a run that could not be scored has its warning; the next rerun offers it again
    rows = [{"run": run.name, **scores(run)} for run in runs]
    formats = {"WS353": "{:.3f}", "SimLex": "{:.3f}", "analogy": "{:.1%}"}
    shown = [
        {k: v if k not in formats else "–" if v is None else formats[k].format(v) for k, v in r.items()} for r in rows
    ]
    names = {"WS353": "WordSim353 Spearman", "SimLex": "SimLex999 Spearman", "analogy": "analogy (3CosAdd)"}
    st.dataframe(pd.DataFrame(shown).rename(columns=names), hide_index=True, width="stretch")  # never a raw None


def unscored(runs: list[Run]) -> list[Run]:
    """Runs with no report of their current center vectors (or a damaged one). A run whose report has no
    score (a vocabulary that covers no test pair) is scored: evaluating it again would change nothing."""
    return [run for run in runs if not has_report(run)]


def has_report(run: Run) -> bool:
    try:
        return load_evaluation(run) is not None
    except RunError:
        return False


def runs_named(count: int) -> str:
    return "the run" if count == 1 else f"the {count} runs"


def evaluate_runs(runs: list[Run]) -> None:
    bar = st.progress(0.0, text="Evaluating…")
    for n, run in enumerate(runs):
        bar.progress(n / len(runs), text=f"Evaluating {run.name} ({n + 1} of {len(runs)})…")
        try:
            save_evaluation(run, full_report(embeddings(run), with_oov=True, source=run.name))
        except (EvaluationError, RunError, OSError) as exc:
            st.warning(f"{literal(run.name)}: {literal(exc)}")
    bar.empty()


def neighbours_section(runs: list[Run]) -> None:
    """The query word's k nearest words in each run; words every run lists are marked, with pairwise overlap."""
    st.subheader("Neighbours side by side")
    loaded = {}
    for run in runs:
        try:
            if queryable(run):
                loaded[run.name] = embeddings(run)
        except RunError as exc:
            st.warning(literal(exc))
    if len(loaded) < 2:
        st.info("At least two of these runs need vectors (they appear after the first epoch).")
        return
    left, right = st.columns([3, 1])
    word = left.text_input("Word", value=default_word(list(loaded.values())), key="cmp_word").strip()
    k = int(right.number_input("k", 1, 100, 10, key="cmp_k"))
    lists = {}
    for name, emb in loaded.items():
        try:
            lists[name] = [w for w, _ in emb.neighbors(word, k)]
        except UnknownWordError as exc:
            st.warning(f"{literal(name)}: {literal(exc)}")
    if len(lists) < 2:
        return
    shared = set.intersection(*(set(words) for words in lists.values()))
    st.write(f"**{len(shared)}** of the top {k} are shared by all {len(lists)} runs (marked ✓).")
    columns = st.columns(len(lists))
    for column, (name, words) in zip(columns, lists.items(), strict=True):
        column.caption(literal(name))
        marks = ["✓" if w in shared else "" for w in words]
        frame = pd.DataFrame({"rank": range(1, len(words) + 1), "word": words, "in all": marks})
        column.dataframe(frame, hide_index=True, width="stretch")
    jaccard = {"Jaccard": st.column_config.NumberColumn(format="%.2f", help="shared words / words in either list")}
    st.dataframe(overlap_table(lists), hide_index=True, column_config=jaccard)


def overlap_table(lists: dict[str, list[str]]) -> pd.DataFrame:
    """Shared words and Jaccard overlap of every pair of neighbour lists."""
    rows = []
    for (a, first), (b, second) in combinations(lists.items(), 2):
        common = set(first) & set(second)
        rows.append(
            {"run A": a, "run B": b, "shared": len(common), "Jaccard": len(common) / len(set(first) | set(second))}
        )
    return pd.DataFrame(rows)


def default_word(loaded: list[Embeddings]) -> str:
    """A familiar word every run knows, else the most frequent word of the first."""
    known = [w for w in COMPARE_WORDS if all(w in emb.index for emb in loaded)]
    return known[0] if known else loaded[0].vocabulary[0]


require_app("compare")
st.title("Compare")
st.write("Pick two or more runs to see how their settings, loss, scores and neighbours differ.")
chosen = pick_runs()
if len(chosen) >= 2:
    try:
        loss_section(chosen)
        config_section(chosen)
        scores_section(chosen)
        neighbours_section(chosen)
    except (RunError, ConfigError) as exc:
        st.error(f"A run could not be read: {literal(exc)}")
