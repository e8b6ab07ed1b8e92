"""One settings schema behind the Train form, the CLI, the resume rules and the README's table."""

from __future__ import annotations

import contextlib
import dataclasses
import io
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import config
from core.cli import build_parser, config_from_args, main
from core.config import SCHEMA, ConfigError, TrainConfig, resumable_fields, settings_table
from core.runs import RESUMABLE_FIELDS
from pages.parts.train_form import form_label

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
MODE_DEVICE = [("fast", "cpu"), ("book", "cpu")]


def form_widgets(mode: str, device: str) -> dict[str, object]:
    """Every widget of the Train form with key `cfg_<field>`, for one mode and device."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["cfg_mode"] = mode
    at.session_state["cfg_device"] = device
    at.switch_page("pages/train.py").run()
    assert not at.exception
    widgets = [*at.number_input, *at.radio, *at.selectbox, *at.checkbox]
    return {w.key[4:]: w for w in widgets if (w.key or "").startswith("cfg_")}


def train_help() -> str:
    """`python -m core train --help`, white space collapsed (argparse wraps lines)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    return " ".join(out.getvalue().split())


def test_schema_covers_every_field_in_order() -> None:
    assert set(SCHEMA) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert RESUMABLE_FIELDS == resumable_fields() == ("epochs", "batch_size", "device", "threads", "log_every")


def test_every_field_is_on_the_form_or_documented_as_command_line_only() -> None:
    shown: dict[str, object] = {}
    for mode, device in MODE_DEVICE:
        shown |= form_widgets(mode, device)
    for setting in SCHEMA.values():
        if setting.form:
            assert setting.name in shown, setting.name
            assert shown[setting.name].label == form_label(setting)
        else:
            assert "command line only" in settings_table().split(f"`{setting.name}`")[1].split("\n")[0]
    for name, widget in shown.items():
        if name in SCHEMA and SCHEMA[name].low is not None:
            assert f"Range {SCHEMA[name].range_text()}." in widget.help, name
        assert "Range ." not in (widget.help or ""), name


def test_each_setting_shows_the_books_name_on_the_form_in_the_cli_and_the_readme() -> None:
    """The names of D2L's train function and data loader, beside ours, wherever settings are listed."""
    books = {s.name: s.book for s in SCHEMA.values() if s.book}
    assert books == {
        "min_freq": "min_freq",
        "subsample": "t",
        "embed_size": "embed_size",
        "max_window": "max_window_size",
        "negatives": "num_noise_words",
        "epochs": "num_epochs",
        "lr": "lr",
        "batch_size": "batch_size",
        "device": "device",
    }
    widgets = form_widgets("book", "cpu")
    text, table = train_help(), settings_table()
    for name, book in books.items():
        assert widgets[name].label.endswith(f"· `{book}`") and f"`{book}`" in widgets[name].help, name
        assert f"{SCHEMA[name].label}" in text and f"the book's {book}:" in text, name
        assert f"| `{name}` | `{book}` |" in table, name


def test_help_texts_say_nothing_twice_and_the_seed_range_reads_at_a_glance() -> None:
    assert "(per context word)" not in train_help() and "per context word" in train_help()
    assert SCHEMA["seed"].range_text() == "0 to 2^63 − 1"
    assert SCHEMA["epochs"].range_text() == "1 to 1000"
    assert TrainConfig(seed=2**40).seed == 2**40  # a saved run with a large seed stays readable
    with pytest.raises(ConfigError, match="between 0 and 2\\^63 − 1"):
        TrainConfig(seed=2**63)


def test_fields_keep_their_places_and_what_the_mode_does_not_use_is_greyed_out() -> None:
    fast, book = form_widgets("fast", "cpu"), form_widgets("book", "cpu")
    assert list(fast) == list(book), "the same fields in the same order in both modes"
    assert not fast["sgd_lr"].disabled and fast["lr"].disabled and fast["batch_size"].disabled  # no CPU batches
    assert book["lr"].disabled is False and book["sgd_lr"].disabled and not book["batch_size"].disabled
    assert "Not used by the fast mode on cpu" in fast["lr"].help
    assert fast["sgd_lr"].label == "Learning rate (SGD, decays to 0)"


def test_cli_help_lists_every_field_with_its_range() -> None:
    text = train_help()
    for setting in SCHEMA.values():
        assert setting.cli_flag in text, setting.name
        if setting.low is not None:
            assert f"{setting.label}" in text and f"{setting.range_text()}, default" in text, setting.name
    assert "--log-every N" in text


def test_a_range_changed_in_the_schema_changes_form_cli_and_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SCHEMA, "epochs", dataclasses.replace(SCHEMA["epochs"], high=7))
    assert "1 to 7, default 5" in train_help()
    assert "Range 1 to 7." in form_widgets("fast", "cpu")["epochs"].help
    with pytest.raises(ConfigError, match="between 1 and 7"):
        TrainConfig(epochs=8)
    monkeypatch.setitem(SCHEMA, "threads", dataclasses.replace(SCHEMA["threads"], resumable=False))
    assert "threads" not in config.resumable_fields()


def test_cli_flags_fill_the_config(tiny_corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["train", "--window", "3", "--log-every", "7", "--lowercase", "--mode", "book"])
    cfg = config_from_args(args)
    assert (cfg.max_window, cfg.log_every, cfg.lowercase, cfg.mode) == (3, 7, True, "book")
    assert main(["train", "--corpus", str(tiny_corpus), "--epochs", "2000"]) == 2
    assert "epochs: must be between 1 and 1000, got 2000" in capsys.readouterr().err


def test_whole_numbers_are_refused_not_truncated() -> None:
    with pytest.raises(ConfigError, match=r"epochs: must be a whole number, got 2\.5"):
        TrainConfig.from_dict({"epochs": 2.5})
    assert TrainConfig.from_dict({"epochs": 3.0}).epochs == 3
    try:
        TrainConfig.from_dict({"epochs": 2.5})
    except ConfigError as exc:
        assert exc.sentence() == "Epochs must be a whole number, got 2.5."


def test_form_refuses_2_5_epochs_under_the_field() -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["cfg_corpus"] = "lee"
    at.switch_page("pages/train.py").run()
    at.number_input(key="cfg_epochs").set_value(2.5).run()
    next(b for b in at.button if b.label == "Start").click().run()
    assert [e.value for e in at.error if e.value.startswith("Epochs")] == ["Epochs must be a whole number, got 2.5."]


def test_presets_fill_the_form() -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/train.py").run()
    next(b for b in at.button if b.label == "Large corpus / GPU").click().run()
    assert at.radio(key="cfg_mode").value == "fast" and at.number_input(key="cfg_min_freq").value == 5
    next(b for b in at.button if b.label == "Reproduce the book").click().run()
    assert at.radio(key="cfg_mode").value == "book"
    assert at.number_input(key="cfg_lr").value == pytest.approx(0.002)
    assert at.number_input(key="cfg_batch_size").value == 512


def test_readme_settings_table_is_generated_from_the_schema() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- settings-table:start")
    body = readme[readme.index("\n", start) + 1 : readme.index("<!-- settings-table:end -->")]
    assert body == settings_table(), "run `python -m core settings` and paste its output into the README"
