"""Home page: what the app does, the runs on disk, and a quick start."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.runs import list_runs, runs_root
from pages.parts.common import launcher, require_app, runs_table
from pages.parts.jobs import delete_view, queue_positions, queue_view, show_delete_message
from pages.parts.text import literal

# How each figure of the run table reads; a figure a run lacks (not finished, not evaluated) reads "–".
FORMATS = {
    "mean_loss": "{:.4f}",
    "tokens_per_s": "{:,.0f}",
    "WS353": "{:.3f}",
    "SimLex": "{:.3f}",
    "analogy": "{:.1%}",
}
# A run's state as a word after a mark (text symbols, which every font draws; emoji need a colour font), so the
# table shows state as text: no cell looks like a control.
STATE_MARKS = {
    "created": "·",
    "queued": "○",
    "running": "●",
    "finished": "✓",
    "stopped": "■",
    "failed": "✗",
    "interrupted": "⚠",
    "damaged": "⚠",
}
NOTED = ("stopped", "failed", "interrupted", "damaged")  # states whose message is listed under the table
# Widths in pixels: the columns add up to 920, so the table fits the page at 1400 px wide with the sidebar
# open; a longer run name or file name ends in an ellipsis.
COLUMNS = {
    "run": st.column_config.TextColumn("run", width=240),
    "state": st.column_config.TextColumn(
        "state",
        width=110,
        help="● training now (in this app or from the command line); ○ waiting in the queue at this place",
    ),
    "corpus": st.column_config.TextColumn("corpus", width=80),
    "mode": st.column_config.TextColumn("mode", width=50),
    "epochs": st.column_config.TextColumn("epochs", width=60, help="epochs done of those asked"),
    "mean_loss": st.column_config.TextColumn("mean loss", width=75, help="mean loss of the last epoch"),
    "tokens_per_s": st.column_config.TextColumn("tokens/s", width=80, help="raw corpus tokens per second"),
    "device": st.column_config.TextColumn("device", width=55),
    "WS353": st.column_config.TextColumn("WS353", width=57, help="WordSim353 Spearman (Evaluate)"),
    "SimLex": st.column_config.TextColumn("SimLex", width=57, help="SimLex999 Spearman (Evaluate)"),
    "analogy": st.column_config.TextColumn("analogy", width=56, help="Google analogies, 3CosAdd (Evaluate)"),
}


def state_text(state: str, live: bool, place: int | None) -> str:
    """The state as shown: live runs say they train whatever their file says, queued runs give their place."""
    if live:
        return f"{STATE_MARKS['running']} training"
    if place is not None:
        return f"{STATE_MARKS['queued']} queued #{place}"
    return f"{STATE_MARKS.get(state, '')} {state}".strip()


def epochs_text(done: object, asked: object) -> str:
    """Epochs done of those asked; "– of N" while the status counts none (before the first epoch ends)."""
    return "–" if pd.isna(asked) else f"{'–' if pd.isna(done) else f'{done:.0f}'} of {asked:.0f}"


def home_table(table: pd.DataFrame, live: set[str], places: dict[str, int]) -> pd.DataFrame:
    """`runs_table` as Home shows it: text only, a dash where a run has no figure, never a raw `None`."""
    shown = table.copy()
    states = zip(table["run"], table["state"], strict=True)
    shown["state"] = [state_text(state, run in live, places.get(run)) for run, state in states]
    shown["epochs"] = [epochs_text(d, a) for d, a in zip(table["epochs_done"], table["epochs"], strict=True)]
    for column, form in FORMATS.items():
        shown[column] = [form.format(v) if pd.notna(v) else "–" for v in table[column]]
    shown = shown[list(COLUMNS)]
    return shown.astype(object).where(shown.notna(), "–").replace("", "–")


def notes(table: pd.DataFrame) -> None:
    """What a stopped, failed, interrupted or damaged run's status says, one line per run under the table."""
    for name, state, message in zip(table["run"], table["state"], table["message"], strict=True):
        if state in NOTED and message:
            st.caption(f"{STATE_MARKS[state]} **{literal(name)}**: {literal(message)}")


require_app("home")
st.title("Word2Vec Studio")
st.write(
    "Train **word2vec** (skip-gram with negative sampling, as in *Dive into Deep Learning* §15.4) right here: "
    "watch the loss fall and the neighbours of a few words take shape while it trains, then ask the vectors "
    "for nearest neighbours, analogies and similarities, and browse 2-D or 3-D maps of the vocabulary."
)

st.subheader("Runs")
reg = launcher()
runs = list_runs()
live = {r.name for r in reg.live_runs()}
if runs:
    table = runs_table(runs)
    st.dataframe(home_table(table, live, queue_positions(reg)), hide_index=True, width="stretch", column_config=COLUMNS)
    notes(table)
    st.caption(f"{len(runs)} run(s) under `{runs_root().resolve()}`")
    queue_view(reg)
    delete_view(runs)
else:
    st.info(f"No runs yet under `{runs_root().resolve()}`.")
show_delete_message()

st.subheader("Quick start")
st.markdown(
    """
1. Open **Train**, keep the book's defaults (PTB, 5 epochs, 100 dimensions) or pick the small Lee corpus or
   your own text file, and press **Start**. The fast mode trains PTB in a few seconds on a CPU.
2. Watch the loss chart and the neighbours of *chip*, *bank* and *monday* change as it trains.
3. Open **Neighbours** to query any word, solve analogies (a : b :: c : ?) and compare two words.
4. Open **Projection** for a PCA or t-SNE map of the most frequent words, coloured by frequency or cluster.
5. Open **Evaluate** to score the vectors on WordSim353, SimLex999 and Google's analogies, and **Compare** to
   set two or more runs side by side. Neighbours, Projection and Evaluate also open vectors files you already
   have (word2vec, GloVe, fastText), and Neighbours downloads yours.
"""
)
