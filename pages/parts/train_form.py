"""The Train page's form, drawn from the settings schema (`core.config.SCHEMA`) and kept across page visits.

Every setting keeps its place whatever the mode and device: those the chosen mode and device do not use are
greyed out, not removed, so no field moves when the mode changes. Each is labelled in plain words with the
book's name beside ours, and has its help and range; a refused Start puts its message under its field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st
import torch

from core.config import SCHEMA, ConfigError, Setting, TrainConfig
from core.data.corpora import PTB_URL, install_ptb, ptb_needs_download, ptb_zip
from core.data.store import STORE_THRESHOLD_BYTES
from core.device import DeviceError, available_devices, resolve_device

DEFAULTS = TrainConfig()
GPUS = torch.cuda.device_count() if torch.cuda.is_available() else 0
CORPORA = {
    "ptb": "Penn Treebank (the book's corpus)",
    "lee": "Lee news corpus (bundled with gensim, offline)",
    "upload": "My own text file (.txt or .gz)",
    "path": "A text file on this machine (any size)",
}
MODE_HELP = {
    "fast": "Plain SGD with a decaying learning rate in a compiled multi-threaded kernel; "
    "the same model and loss as the book, many times quicker.",
    "book": "The book's recipe step by step: minibatches of shuffled centers and the Adam optimiser.",
}
# Settings the form draws itself (corpus choice, mode, device); every other form setting is a number box.
SPECIAL = ("corpus", "lowercase", "mode", "device")
PRESETS: dict[str, dict[str, Any]] = {
    "Reproduce the book": {**DEFAULTS.to_dict(), "mode": "book", "lr": 0.002, "batch_size": 512},
    "Fast": DEFAULTS.to_dict(),
    "Large corpus / GPU": {
        **DEFAULTS.to_dict(),
        "mode": "fast",
        "device": "auto",
        "min_freq": 5,
        "batch_size": 4096,
        "log_every": 200,
    },
}
WATCH_DEFAULT = "chip, bank, monday"
FIELD_ERROR = "train_field_error"
KEPT_SETTINGS = "train_settings"


def form_settings() -> list[Setting]:
    """The schema's settings that the form shows (read at call time, so a changed schema changes the form)."""
    return [s for s in SCHEMA.values() if s.form and s.name != "corpus"]


def initial_value(setting: Setting) -> Any:
    """Whole-number boxes hold floats, so that 2.5 reaches the config and is refused instead of truncated."""
    value = getattr(DEFAULTS, setting.name)
    return float(value) if setting.whole else value


def settings_defaults() -> dict[str, Any]:
    """Every session key of the form with its default; widgets take their values from these keys."""
    return {
        "cfg_corpus": DEFAULTS.corpus,
        **{f"cfg_{s.name}": initial_value(s) for s in form_settings()},
        "cfg_corpus_path": "",
        "cfg_ptb_zip": "",
        "cfg_processes": GPUS if GPUS > 1 else 1,
        "run_name": "",
        "watch_words": WATCH_DEFAULT,
    }


def restore_settings() -> None:
    """Give each setting its last value, or its default, before the widgets are drawn.

    Streamlit forgets the state of a widget that a run did not draw (another page, or a setting the chosen
    mode hides), so `keep_settings` copies the values to a plain session key and this puts them back.
    """
    kept = st.session_state.get(KEPT_SETTINGS, {})
    for key, default in settings_defaults().items():
        if key not in st.session_state:
            st.session_state[key] = kept.get(key, default)
    for setting in form_settings():
        key = f"cfg_{setting.name}"
        if setting.whole and isinstance(st.session_state[key], int):
            st.session_state[key] = float(st.session_state[key])


def keep_settings() -> None:
    """Copy the form's values aside, for the next visit of the page (see `restore_settings`)."""
    kept = st.session_state.get(KEPT_SETTINGS, {})
    present = {key: st.session_state[key] for key in settings_defaults() if key in st.session_state}
    st.session_state[KEPT_SETTINGS] = {**kept, **present}


def setting_value(key: str) -> Any:
    """A setting's current value, also before its widget is drawn."""
    if key in st.session_state:
        return st.session_state[key]
    return st.session_state.get(KEPT_SETTINGS, {}).get(key, settings_defaults()[key])


def apply_preset(name: str) -> None:
    """Button callback: put a preset's values into the form (the corpus stays as chosen)."""
    for setting in form_settings():
        value = PRESETS[name][setting.name]
        st.session_state[f"cfg_{setting.name}"] = float(value) if setting.whole else value
    st.session_state.pop(FIELD_ERROR, None)


def note_field_error(exc: Exception) -> None:
    """Remember a refused setting so that its message shows under its field."""
    if isinstance(exc, ConfigError):
        st.session_state[FIELD_ERROR] = (exc.field, exc.sentence())
    else:
        st.session_state.pop(FIELD_ERROR, None)


def clear_field_error() -> None:
    st.session_state.pop(FIELD_ERROR, None)


def field_error(name: str, where: Any = st) -> None:
    field, message = st.session_state.get(FIELD_ERROR) or (None, "")
    if field == name:
        where.error(message)


def form_label(setting: Setting) -> str:
    """Our name with the book's beside it: `Epochs · num_epochs`."""
    return f"{setting.label} · `{setting.book}`" if setting.book else setting.label


def widget_help(setting: Setting, unused: str = "") -> str:
    """The help, unit, range (or choices), the book's name and whether a resume may change it."""
    limits = setting.range_text()
    where = "Choices" if setting.choices else "Range"
    parts = [f"{setting.help[0].upper()}{setting.help[1:]}{setting.unit_text()}."]
    parts += [f"{where} {limits}."] if limits else []
    parts += [f"The book calls it `{setting.book}`."] if setting.book else []
    parts += ["May change when resuming."] if setting.resumable else []
    parts += [unused] if unused else []
    return " ".join(parts)


def number_box(setting: Setting, where: Any) -> None:
    """A number box without bounds of its own: any value reaches `TrainConfig`, whose refusal names the field
    (a bounded box would silently keep its old value instead). Like every widget of the form, it is given
    the value the form holds as its default (see `held`). A setting the chosen mode and device do not use
    is greyed out, keeping its value and its place."""
    step = float(setting.step or 1)
    fmt = "%g" if setting.whole or setting.name == "subsample" else "%.4f"
    key = f"cfg_{setting.name}"
    mode, device = str(setting_value("cfg_mode")), used_device()
    used = setting.used_by(mode, device)
    unused = "" if used else f"Not used by the {mode} mode on {device}: greyed out, its value kept."
    label = form_label(setting)
    help_text = widget_help(setting, unused)
    where.number_input(label, value=held(key), step=step, format=fmt, key=key, help=help_text, disabled=not used)
    field_error(setting.name, where)


def held(key: str) -> Any:
    """The value the form holds for `key`, given to its widget as the widget's default: a browser that mounts
    a widget afresh (under load it did so while the user typed elsewhere) starts it from its default and
    sends that back, which for a number box without one was 0 in every box the user had not touched."""
    return setting_value(key)


def index_of(options: list[Any], key: str) -> int:
    value = held(key)
    return options.index(value) if value in options else 0


def used_device() -> str:
    """The device training would run on: `auto` resolves to cuda, mps or cpu here."""
    try:
        return resolve_device(str(setting_value("cfg_device"))).type
    except DeviceError:  # a device missing here shows the CPU's settings
        return "cpu"


def number_settings() -> list[Setting]:
    """The settings drawn as number boxes, in the schema's order: the same boxes in the same places in every
    mode and on every device (those not used are greyed out)."""
    return [s for s in form_settings() if s.name not in SPECIAL]


def settings_form() -> None:
    """Presets, corpus, mode, then the settings the chosen mode and device use, each keyed `cfg_<field>`."""
    preset_buttons()
    corpus_fields()
    mode = SCHEMA["mode"]
    choices = list(mode.choices)
    captions = [MODE_HELP[m] for m in choices]
    st.radio(mode.label, choices, index_of(choices, "cfg_mode"), key="cfg_mode", horizontal=True, captions=captions)
    field_error("mode")
    device = SCHEMA["device"]
    devices = dict(available_devices())
    options = list(devices)
    index = index_of(options, "cfg_device")
    label = form_label(device)
    st.selectbox(label, options, index, format_func=devices.get, key="cfg_device", help=widget_help(device))
    field_error("device")
    columns = st.columns(4, vertical_alignment="bottom")
    for n, setting in enumerate(s for s in number_settings() if s.group != "processes"):
        number_box(setting, columns[n % 4])
    help_text = "A folder name; by default date, corpus and mode."
    st.text_input("Run name (optional)", held("run_name"), key="run_name", help=help_text)
    processes_field()


def preset_buttons() -> None:
    columns = st.columns(len(PRESETS) + 1)
    columns[0].markdown("**Presets**")
    helps = {
        "Reproduce the book": "Book mode, Adam with learning rate 0.002, batches of 512 (mean loss about 0.41 on PTB).",
        "Fast": "The default: compiled SGD, the book's other settings.",
        "Large corpus / GPU": "Fast mode on the best device, batches of 4,096 for a GPU, rarer words kept.",
    }
    for column, name in zip(columns[1:], PRESETS, strict=True):
        column.button(name, on_click=apply_preset, args=(name,), help=helps[name], key=f"preset_{name}")


def corpus_fields() -> None:
    corpora = list(CORPORA)
    index = index_of(corpora, "cfg_corpus")
    st.radio(SCHEMA["corpus"].label, corpora, index, format_func=CORPORA.get, key="cfg_corpus", horizontal=True)
    if st.session_state.get("cfg_corpus") == "upload":
        st.file_uploader("Text file: one sentence per line, words split on white space", ["txt", "gz"], key="upload")
    if st.session_state.get("cfg_corpus") == "ptb" and ptb_needs_download():
        ptb_source_field()
    if st.session_state.get("cfg_corpus") == "path":
        st.text_input(
            "Path of a UTF-8 text file (.txt or .gz) on the machine running the app",
            held("cfg_corpus_path"),
            key="cfg_corpus_path",
            help=f"One sentence per line; files over {STORE_THRESHOLD_BYTES >> 20} MB are tokenised once into an "
            "on-disk store (with progress) and trained from it in chunks, so memory stays bounded.",
        )
    field_error("corpus")
    lowercase = SCHEMA["lowercase"]
    st.checkbox(lowercase.label, bool(held("cfg_lowercase")), key="cfg_lowercase", help=widget_help(lowercase))


def ptb_source_field() -> None:
    """Said before Start: PTB is not on this machine, so Start downloads it (the network is needed), unless the
    path of a copy is given here."""
    st.info(
        f"The Penn Treebank is not on this machine yet: Start downloads it (2 MB) from {PTB_URL}, which needs "
        "the network. Offline? Give the path of a copy of ptb.zip below, or choose the Lee corpus."
    )
    st.text_input(
        "Path of a copy of ptb.zip (optional)",
        held("cfg_ptb_zip"),
        key="cfg_ptb_zip",
        help="It is checked against the book's file (sha1) and kept in the cache, so later runs find it too.",
    )


def fetch_ptb(data_dir: Path | None) -> None:
    """Before a PTB run exists: copy the given ptb.zip into the cache, or download it, so that an offline Start
    is refused with its reason (and how to give a copy) instead of leaving a failed run behind."""
    if not ptb_needs_download(data_dir):
        return
    local = str(setting_value("cfg_ptb_zip")).strip()
    if local:
        install_ptb(local)
    else:
        ptb_zip(data_dir)


def processes_field() -> None:
    """How many torchrun processes train the run: one per GPU on a multi-GPU machine; CPU ones for trying it."""
    with st.expander("Several processes (data-parallel training with torchrun)", expanded=GPUS > 1):
        left, right = st.columns(2)
        help_text = "1 trains in this app's process."
        left.number_input("Processes", value=held("cfg_processes"), step=1, key="cfg_processes", help=help_text)
        field_error("processes", left)
        for setting in number_settings():
            if setting.group == "processes":
                number_box(setting, right)
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
    """The form's settings for `TrainConfig.from_dict`, hidden ones included (it refuses 2.5 for a whole number)."""
    return {s.name: setting_value(f"cfg_{s.name}") for s in form_settings()}
