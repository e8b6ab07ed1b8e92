"""The Train page's form: corpus, mode, device, processes and every hyperparameter, kept across page visits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st
import torch

from core.config import _FLOAT_BOUNDS, _INT_BOUNDS, MODES, TrainConfig
from core.device import available_devices
from core.store import STORE_THRESHOLD_BYTES

DEFAULTS = TrainConfig()
GPUS = torch.cuda.device_count() if torch.cuda.is_available() else 0
CORPORA = {
    "ptb": "Penn Treebank (the book's corpus)",
    "lee": "Lee news corpus (bundled with gensim, offline)",
    "upload": "My own text file (.txt or .gz)",
    "path": "A text file on this machine (any size)",
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
# Every setting of the page with its default; widgets take their values from these session keys.
SETTINGS: dict[str, Any] = {
    "cfg_corpus": DEFAULTS.corpus,
    "cfg_lowercase": DEFAULTS.lowercase,
    "cfg_mode": DEFAULTS.mode,
    **{f"cfg_{name}": getattr(DEFAULTS, name) for name in (*INT_FIELDS, *FLOAT_FIELDS)},
    "cfg_device": DEFAULTS.device,
    "cfg_corpus_path": "",
    "cfg_processes": GPUS if GPUS > 1 else 1,
    "run_name": "",
    "watch_words": WATCH_DEFAULT,
}
KEPT_SETTINGS = "train_settings"


def restore_settings() -> None:
    """Give each setting its last value, or its default, before the widgets are drawn.

    Streamlit forgets the state of a widget that a run did not draw, so visiting another page would reset
    the form; `keep_settings` copies the values to a plain session key and this puts them back.
    """
    kept = st.session_state.get(KEPT_SETTINGS, {})
    for key, default in SETTINGS.items():
        if key not in st.session_state:
            st.session_state[key] = kept.get(key, default)


def keep_settings() -> None:
    st.session_state[KEPT_SETTINGS] = {key: st.session_state[key] for key in SETTINGS if key in st.session_state}


def settings_form() -> None:
    """Corpus, mode, device and every hyperparameter, each widget keyed `cfg_<field>`.

    The number boxes have no bounds of their own: any value reaches `TrainConfig`, whose refusal names
    the field and its range (a bounded box would silently keep its old value instead).
    """
    st.radio("Corpus", list(CORPORA), format_func=CORPORA.get, key="cfg_corpus", horizontal=True)
    if st.session_state.get("cfg_corpus") == "upload":
        st.file_uploader("Text file: one sentence per line, words split on white space", ["txt", "gz"], key="upload")
    if st.session_state.get("cfg_corpus") == "path":
        st.text_input(
            "Path of a UTF-8 text file (.txt or .gz) on the machine running the app",
            key="cfg_corpus_path",
            help=f"one sentence per line; files over {STORE_THRESHOLD_BYTES >> 20} MB are tokenised once into an "
            "on-disk store (with progress) and trained from it in chunks, so memory stays bounded",
        )
    st.checkbox("Lowercase the text", key="cfg_lowercase", help="PTB is lowercase already")
    st.radio("Training mode", MODES, key="cfg_mode", horizontal=True, captions=[MODE_HELP[m] for m in MODES])
    columns = st.columns(4)
    for n, name in enumerate(INT_FIELDS):
        low, high, what = _INT_BOUNDS[name]
        columns[n % 4].number_input(name, step=1, key=f"cfg_{name}", help=f"{what} ({low} to {high})")
    for n, (name, (fmt, step)) in enumerate(FLOAT_FIELDS.items(), len(INT_FIELDS)):
        low, high, what = _FLOAT_BOUNDS[name]
        columns[n % 4].number_input(
            name, step=step, format=fmt, key=f"cfg_{name}", help=f"{what} ({low:g} to {high:g})"
        )
    devices = dict(available_devices())
    st.selectbox("Device", list(devices), format_func=devices.get, key="cfg_device")
    st.text_input("Run name (optional)", key="run_name", help="a folder name; by default date, corpus and mode")
    processes_field()


def processes_field() -> None:
    """How many torchrun processes train the run: one per GPU on a multi-GPU machine; CPU ones for trying it."""
    with st.expander("Several processes (data-parallel training with torchrun)", expanded=GPUS > 1):
        st.number_input("processes", step=1, key="cfg_processes", help="1 trains in this app's process")
        if GPUS > 1:
            st.caption(f"{GPUS} GPUs here: {GPUS} processes train one replica each and keep them in sync.")
        else:
            st.caption(
                "No second GPU here: extra processes share the CPU cores, so they show how data-parallel "
                "training behaves (per-process throughput, time spent synchronising) rather than speed it up."
            )


def corpus_from_form() -> str:
    """The corpus field of the config for the Lee/PTB choices and the path option (uploads are saved first)."""
    choice = st.session_state["cfg_corpus"]
    if choice != "path":
        return choice
    path = str(st.session_state.get("cfg_corpus_path", "")).strip()
    if not path:
        raise ValueError("Type the path of a text file on this machine first.")
    if not Path(path).is_file():
        raise ValueError(f"{path} is not a file on this machine; check the path.")
    return path


def collect_settings() -> dict[str, Any]:
    names = ["lowercase", "mode", "device", *INT_FIELDS, *FLOAT_FIELDS]
    return {name: st.session_state[f"cfg_{name}"] for name in names}
