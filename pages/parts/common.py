"""Streamlit helpers shared by the pages: the process-wide launcher, metrics readers, run tables, cached vectors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.explore.evaluate import load_evaluation
from core.explore.projection import vectors_stamp
from core.explore.vectors import Embeddings
from core.runs import MetricsReader, Run, RunError, Status
from core.runs.launcher import Launcher
from core.runs.records import MAX_SMOOTHING, SMOOTHING
from pages.parts.charts import LossView
from pages.parts.live import LiveFeed, PanelFeed, Readers, safe_status

FIGURES = ("epochs_done", "mean_loss", "tokens_per_s", "device")
SCORES = ("WS353", "SimLex", "analogy")
CURRENT_RUN = "current_run"  # the run the user last looked at, shared by the pages
# The map page's own stylesheet, a constant (no user text reaches HTML): narrower side padding, so the map fills
# the first screen, and the previous map's greyed copy, which Streamlit keeps while a new one computes, hidden.
MAP_PAGE_STYLE = (
    "<style>[data-testid='stMainBlockContainer']{padding:3.5rem 1rem 2rem 1rem}"
    "[data-testid='stMainBlockContainer'] [data-retained='true']{display:none}</style>"
)


def require_app(url_path: str) -> None:
    """Make sure app.py's navigation is in charge before a page draws anything.

    Streamlit serves a folder named `pages/` as old-style pages until the first `st.navigation` call of the
    server process; a first visit straight to e.g. /train would then run this page without app.py. Hand over
    to app.py, which comes back to this page with the same query parameters.
    """
    if not st.session_state.get("app_ran"):
        st.session_state["deep_link"] = (url_path, st.query_params.to_dict())
        st.switch_page("app.py")


def map_page_style() -> None:
    st.html(MAP_PAGE_STYLE)


@st.cache_resource
def launcher() -> Launcher:
    """One launcher per server process; what it shows comes from the runs folder, so a restart loses nothing."""
    return Launcher()


@st.cache_resource
def _live_feed() -> LiveFeed | None:
    try:
        return LiveFeed(PanelFeed(launcher(), _readers()))
    except OSError:  # no loopback port to listen on: the page polls through Streamlit instead
        return None


def browser_feed() -> LiveFeed | None:
    """The loopback feed the Train page's live panel polls from the browser; None
    when the page was not loaded from this machine (the feed listens on its loopback only) or the feed
    cannot listen. Tests without a browser (`AppTest`) send no Host header, so they get None too."""
    try:
        host = st.context.headers.get("Host") or ""
    except RuntimeError:  # no server runtime: AppTest sessions run side by side in one process
        return None
    if host.rsplit(":", 1)[0] not in ("localhost", "127.0.0.1", "[::1]"):
        return None
    return _live_feed()


@st.cache_resource
def _readers() -> Readers:
    return Readers()


def metrics(run: Run) -> MetricsReader:
    """The run's metrics, read up to now: one reader per run and server (the live feed's too), so a poll
    reads only new rows."""
    reader = _readers().reader(run)
    reader.poll()
    return reader


@st.cache_resource(max_entries=4, show_spinner="Loading vectors…")
def _embeddings(path: str, stamp: float) -> Embeddings:
    return Embeddings.from_run(Run.open(path))


def embeddings(run: Run) -> Embeddings:
    """The run's vectors, reloaded only when their file changes."""
    return _embeddings(str(run.path), vectors_stamp(run))


def queryable(run: Run) -> bool:
    """True when the run has vectors: final ones or those of a finished epoch."""
    return run.current_vectors() is not None


def runs_table(runs: list[Run]) -> pd.DataFrame:
    """One row per run with its state and key figures, for the home page."""
    rows = []
    for run in runs:
        status = safe_status(run)
        try:
            cfg = run.config()
            corpus, mode, epochs = Path(cfg.corpus).name, cfg.mode, cfg.epochs  # an upload's file name, not its path
        except RunError as exc:
            corpus, mode, epochs = "?", "?", None
            status = Status("damaged", str(exc))
        row = {"run": run.name, "state": status.state, "corpus": corpus, "mode": mode, "epochs": epochs}
        row.update({k: getattr(status, k) for k in FIGURES})
        row.update(scores(run))
        row["message"] = status.message
        rows.append(row)
    return pd.DataFrame(rows, columns=["run", "state", "corpus", "mode", "epochs", *FIGURES, *SCORES, "message"])


def scores(run: Run) -> dict[str, float | None]:
    """The headline scores of the run's last evaluation (None where it was not evaluated or not covered)."""
    try:
        report = load_evaluation(run)
    except RunError:
        report = None
    if report is None:
        return dict.fromkeys(SCORES)
    ws, sl = (p.spearman for p in report.pairs)
    return {"WS353": ws, "SimLex": sl, "analogy": report.analogy_total.accuracy_add}


def loss_view(key: str) -> LossView:
    """A loss chart's smoothing slider and log-scale toggle (keys `<key>_smoothing`, `<key>_log`): the Train
    page's chart, live and once the run ended, and Compare's read the same two controls."""
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    weight = left.slider(
        "Smoothing of the loss line",
        0.0,
        MAX_SMOOTHING,
        SMOOTHING,
        0.01,
        key=f"{key}_smoothing",
        help="Weight of the past in the exponential moving average of the step losses, debiased as TensorBoard "
        "does, so the line starts at the first loss; 0 draws the step losses themselves.",
    )
    log = right.toggle("Log-scale loss", key=f"{key}_log")
    return LossView(weight, log)
