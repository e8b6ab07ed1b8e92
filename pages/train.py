"""Train page: pick a corpus and hyperparameters, train in the background, watch the loss and neighbours live."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core.config import _FLOAT_BOUNDS, _INT_BOUNDS, MODES, ConfigError, TrainConfig
from core.device import available_devices
from core.jobs import JobRegistry, WatchResult, parse_words, watch_words
from core.runs import Run, RunError, list_runs, runs_root, sanitize_name
from pages.charts import loss_figure
from pages.common import CURRENT_RUN, embeddings, queryable, registry, require_app, safe_status

POLL_S = 0.5
DEFAULTS = TrainConfig()
CORPORA = {
    "ptb": "Penn Treebank (the book's corpus)",
    "lee": "Lee news corpus (bundled with gensim, offline)",
    "upload": "My own text file (.txt or .gz)",
}
MODE_HELP = {
    "fast": "fast: plain SGD with a decaying learning rate in a compiled multi-threaded kernel (sgd_lr); "
    "the same model and loss as the book, many times quicker.",
    "book": "book: the book's recipe step by step, minibatches of shuffled centers and the Adam optimiser (lr).",
}
INT_FIELDS = (
    "epochs",
    "batch_size",
    "embed_size",
    "max_window",
    "negatives",
    "min_freq",
    "threads",
    "seed",
    "log_every",
)
FLOAT_FIELDS = {"subsample": ("%.1e", 1e-5), "lr": ("%.4f", 0.0005), "sgd_lr": ("%.4f", 0.005)}
WATCH_DEFAULT = "chip, bank, monday"
WIDGET_INT_MAX = 2**31 - 1  # the browser's number widgets lose precision past 2**53; seeds need no more


def settings_form() -> None:
    """Corpus, mode, device and every hyperparameter, each widget keyed `cfg_<field>`."""
    st.radio("Corpus", list(CORPORA), format_func=CORPORA.get, key="cfg_corpus", horizontal=True)
    if st.session_state.get("cfg_corpus") == "upload":
        st.file_uploader("Text file: one sentence per line, words split on white space", ["txt", "gz"], key="upload")
    st.checkbox("Lowercase the text", value=DEFAULTS.lowercase, key="cfg_lowercase", help="PTB is lowercase already")
    st.radio("Training mode", MODES, key="cfg_mode", horizontal=True, captions=[MODE_HELP[m] for m in MODES])
    columns = st.columns(4)
    for n, name in enumerate(INT_FIELDS):
        low, high, what = _INT_BOUNDS[name]
        columns[n % 4].number_input(
            name,
            min_value=low,
            max_value=min(high, WIDGET_INT_MAX),
            value=getattr(DEFAULTS, name),
            key=f"cfg_{name}",
            help=what,
        )
    for n, (name, (fmt, step)) in enumerate(FLOAT_FIELDS.items(), len(INT_FIELDS)):
        low, high, what = _FLOAT_BOUNDS[name]
        columns[n % 4].number_input(
            name,
            min_value=0.0,
            max_value=high,
            value=getattr(DEFAULTS, name),
            step=step,
            format=fmt,
            key=f"cfg_{name}",
            help=f"{what} ({low:g} to {high:g})",
        )
    devices = dict(available_devices())
    st.selectbox("Device", list(devices), format_func=devices.get, key="cfg_device")
    st.text_input("Run name (optional)", key="run_name", help="a folder name; by default date, corpus and mode")


def buttons(reg: JobRegistry, shown: Run | None) -> None:
    """Start a new run; Stop or Resume the run on screen."""
    left, mid, right, _ = st.columns([1, 1, 1, 3])
    left.button("Start", type="primary", on_click=start, disabled=bool(reg.live_runs()), help="one training at a time")
    mid.button("Stop", on_click=stop, disabled=shown is None or not reg.is_live(shown))
    right.button("Resume", on_click=resume, disabled=not resumable(reg, shown))


def collect_settings() -> dict[str, Any]:
    names = ["lowercase", "mode", "device", *INT_FIELDS, *FLOAT_FIELDS]
    return {name: st.session_state[f"cfg_{name}"] for name in names}


def start() -> None:
    """Button callback: validate the settings, then train in a background thread (or say why not)."""
    st.session_state.pop("train_error", None)
    try:
        corpus = st.session_state["cfg_corpus"]
        if corpus == "upload":
            corpus = str(save_upload())
        cfg = TrainConfig.from_dict({**collect_settings(), "corpus": corpus})
        run = registry().start(cfg, name=st.session_state.get("run_name") or None)
    except (ConfigError, RunError, ValueError) as exc:
        st.session_state["train_error"] = f"Nothing was started. {exc}"
        return
    show(run)


def save_upload() -> Path:
    """Keep the uploaded file under `<runs root>/uploads/`, named by content hash and sanitised name."""
    upload = st.session_state.get("upload")
    if upload is None:
        raise ValueError("Choose a text file to upload first.")
    data = upload.getvalue()
    folder = runs_root() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:10]}-{sanitize_name(upload.name)}"
    if not path.exists():
        path.write_bytes(data)
    return path


def stop() -> None:
    run = current_run()
    if run is not None:
        registry().stop(run)


def resume() -> None:
    run = current_run()
    st.session_state.pop("train_error", None)
    if run is None:
        return
    try:
        registry().resume(run)
    except RunError as exc:
        st.session_state["train_error"] = str(exc)


def resumable(reg: JobRegistry, run: Run | None) -> bool:
    if run is None or reg.is_live(run):
        return False
    return safe_status(run).get("state") in ("stopped", "interrupted", "failed") and (run.path / "vocab.json").is_file()


def show(run: Run) -> None:
    st.session_state["shown_run"] = run.name
    st.session_state[CURRENT_RUN] = run.name


def current_run() -> Run | None:
    name = st.session_state.get("shown_run")
    try:
        return Run.open(name) if name else None
    except RunError:
        return None


def pick_shown_run(reg: JobRegistry) -> Run | None:
    """The run on screen: the user's last choice, else the live one, else the newest on disk."""
    names = [r.name for r in list_runs()]
    if not names:
        return None
    if st.session_state.get("shown_run") not in names:
        live = [r.name for r in reg.live_runs()]
        remembered = st.session_state.get(CURRENT_RUN)
        st.session_state["shown_run"] = remembered if remembered in names else (live or names)[0]
    name = st.selectbox("Showing run", names, key="shown_run")
    st.session_state[CURRENT_RUN] = name
    return Run.open(name)


def show_state(status: dict[str, Any], reg: JobRegistry, run: Run) -> None:
    state, message = status.get("state"), status.get("message", "")
    job = reg.get(run)
    if state == "running":
        st.info(f"Running: {message or 'training'}…")
        if job and job.download and job.download[1]:
            done, total = job.download
            st.progress(min(done / total, 1.0), text=f"Downloading PTB: {done >> 20} of {total >> 20} MB")
    elif state == "finished":
        st.success(
            f"Finished {status.get('epochs_done')} epochs in {status.get('train_seconds', 0):.1f} s; "
            f"mean loss {status.get('mean_loss', float('nan')):.4f}, vocabulary {status.get('vocab_size')} words, "
            f"device {status.get('device')}."
        )
    elif state == "failed":
        st.error(f"Training failed: {message}")
    elif state in ("stopped", "interrupted"):
        st.warning(f"{state.capitalize()}: {message}")
    else:
        st.info("Waiting to start")


def show_progress(metrics: list[dict[str, Any]], epochs: int) -> None:
    if not metrics:
        st.caption("The loss chart fills in once the first steps are done.")
        return
    last = metrics[-1]
    eta = last.get("eta_s")
    eta_text = f"ETA {eta:.0f} s" if isinstance(eta, (int, float)) and eta < float("inf") else "ETA unknown"
    st.progress(min(float(last["fraction"]), 1.0), text=f"{last['fraction']:.0%} done · {eta_text}")
    a, b, c, d = st.columns(4)
    a.metric("Epoch", f"{last['epoch']} / {epochs}")
    b.metric("Tokens/s", f"{last['tokens_per_s']:,.0f}")
    c.metric("Elapsed", f"{last['elapsed_s']:.1f} s")
    d.metric("Loss", f"{last['loss']:.4f}")
    st.plotly_chart(loss_figure(metrics, epochs), width="stretch")
    steps = sum(1 for m in metrics if m.get("kind") == "step")
    st.caption(f"{steps} loss points logged")


def show_watch(run: Run, reg: JobRegistry, words: list[str], live: bool) -> None:
    """Top-5 neighbours of the watch words, from the live weights while training, else from the saved ones."""
    results: list[WatchResult] | None = reg.watch(run, words) if live else None
    if results is None and queryable(run):
        results = watch_words(embeddings(run), words)
    if results is None:
        st.caption("Neighbours of the watch words appear once training starts.")
        return
    rows = [
        {
            "word": r.word,
            "top-5 neighbours (cosine)": ", ".join(f"{w} {s:.2f}" for w, s in r.neighbors)
            or f"not in the vocabulary; closest: {', '.join(r.suggestions) or 'none'}",
        }
        for r in results
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def run_panel(run: Run, reg: JobRegistry) -> None:
    """The live part of the page; it polls while the run trains and redraws the whole page when it ends."""
    was_live = reg.is_live(run) or safe_status(run).get("state") == "running"

    @st.fragment(run_every=POLL_S if was_live else None)
    def panel() -> None:
        status = safe_status(run)
        live = reg.is_live(run) or status.get("state") == "running"
        show_state(status, reg, run)
        try:
            epochs = run.config().epochs
        except (RunError, ConfigError) as exc:
            st.error(str(exc))
            return
        show_progress(run.metrics(), epochs)
        st.subheader("Watch words")
        show_watch(run, reg, parse_words(st.session_state.get("watch_words", WATCH_DEFAULT)), live)
        if was_live and not live:
            st.rerun()

    panel()


require_app("train")
st.title("Train")
st.write("Train skip-gram with negative sampling in the background; this page follows the loss and neighbours live.")
reg = registry()
with st.expander("Corpus and hyperparameters", expanded=not reg.live_runs()):
    settings_form()
shown = pick_shown_run(reg)
buttons(reg, shown)
if "train_error" in st.session_state:
    st.error(st.session_state["train_error"])
st.text_input("Watch words (comma separated)", WATCH_DEFAULT, key="watch_words")
if shown is None:
    st.info("No runs yet: choose a corpus and press Start.")
else:
    run_panel(shown, reg)
