"""Home page: description, runs table, quick start."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def test_home_without_runs_says_so() -> None:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Word2Vec Studio"
    assert any("No runs yet" in info.value for info in at.info)
    assert any("Quick start" in header.value for header in at.subheader)


def test_home_lists_runs_with_their_figures(lee_run) -> None:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table.columns) == [
        "run", "state", "corpus", "mode", "epochs", "mean_loss", "tokens_per_s", "device", "WS353", "SimLex", "analogy"
    ]  # fmt: skip
    row = table.set_index("run").loc[lee_run.name]
    assert row["state"] == "✓ finished" and row["epochs"] == "3 of 3"
    assert row["corpus"] == "lee" and row["mode"] == "fast"
    assert float(row["mean_loss"]) > 0 and float(row["tokens_per_s"].replace(",", "")) > 0 and row["device"] == "cpu"
    assert row["WS353"] == "–"  # not evaluated: a dash, never None
    assert all(table[column].map(type).eq(str).all() for column in table)  # text only: no cell is a checkbox


def test_a_stopped_run_reads_as_text_and_its_message_is_listed(lee_run) -> None:
    figures = lee_run.status().figures()
    lee_run.set_status("stopped", "stopped by the user; resume continues from the last finished epoch", **figures)
    at = AppTest.from_file(APP, default_timeout=60).run()
    row = at.dataframe[0].value.set_index("run").loc[lee_run.name]
    assert row["state"] == "■ stopped" and row["epochs"] == "3 of 3"
    assert any(f"{lee_run.name}**: stopped by the user" in c.value for c in at.caption)
