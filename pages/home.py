"""Home page: what the app does, the runs on disk, and a quick start."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.runs import list_runs, runs_root
from pages.parts.common import launcher, require_app, runs_table
from pages.parts.jobs import delete_view, queue_positions, queue_view, show_delete_message

# How each figure of the run table reads; a figure a run lacks (not finished, not evaluated) reads "–".
FORMATS = {
    "queue": "{:.0f}",
    "epochs": "{:.0f}",
    "epochs_done": "{:.0f}",
    "mean_loss": "{:.4f}",
    "tokens_per_s": "{:,.0f}",
    "WS353": "{:.3f}",
    "SimLex": "{:.3f}",
    "analogy": "{:.1%}",
}


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """The run table as text, a dash where a run has no figure: never a raw `None` or an empty cell."""
    for column, form in FORMATS.items():
        table[column] = [form.format(v) if pd.notna(v) else "–" for v in table[column]]
    return table.astype(object).where(table.notna(), "–").replace("", "–")


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
    table.insert(1, "live", table["run"].isin(live))
    table.insert(2, "queue", table["run"].map(queue_positions(reg)))
    st.dataframe(
        readable(table),
        hide_index=True,
        width="stretch",
        column_config={
            "live": st.column_config.CheckboxColumn(
                "live", help="training right now (in this app or from the command line)"
            ),
            "queue": st.column_config.TextColumn("queue", help="place in the training queue"),
            "epochs_done": st.column_config.TextColumn("epochs done"),
            "mean_loss": st.column_config.TextColumn("mean loss"),
            "tokens_per_s": st.column_config.TextColumn("tokens/s"),
            "WS353": st.column_config.TextColumn("WS353", help="WordSim353 Spearman (Evaluate)"),
            "SimLex": st.column_config.TextColumn("SimLex", help="SimLex999 Spearman (Evaluate)"),
            "analogy": st.column_config.TextColumn("analogy", help="Google analogies, 3CosAdd"),
        },
    )
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
