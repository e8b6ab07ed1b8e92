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
    row = table.set_index("run").loc[lee_run.name]
    assert row["state"] == "finished"
    assert row["epochs_done"] == "3" and row["corpus"] == "lee" and row["mode"] == "fast"
    assert float(row["mean_loss"]) > 0 and float(row["tokens_per_s"].replace(",", "")) > 0 and row["device"] == "cpu"
    assert row["queue"] == row["WS353"] == "–"  # not queued, not evaluated: a dash, never None
