"""Train page: the book's defaults, a short training to completion, invalid settings, failures, uploads."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import plain
from streamlit.testing.v1 import AppTest

from core.config import TrainConfig
from core.data.corpora import CorpusError
from core.job import train_run
from core.runs import Run, Status, list_runs, runs_root

APP = str(Path(__file__).resolve().parents[1] / "app.py")

BOOK_DEFAULTS = {
    "epochs": 5,
    "batch_size": 512,
    "lr": 0.002,
    "embed_size": 100,
    "max_window": 5,
    "negatives": 5,
    "min_freq": 10,
    "subsample": 1e-4,
}


def train_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("pages/train.py").run()
    assert not at.exception
    return at


def wait_until_done(run: Run, timeout: float = 90.0) -> Status:
    deadline = time.monotonic() + timeout
    while run.status().state in ("created", "queued", "running"):
        assert time.monotonic() < deadline, "training did not end in time"
        time.sleep(0.05)
    return run.status()


def start(at: AppTest) -> AppTest:
    next(b for b in at.button if b.label == "Start").click().run()
    return at


def test_defaults_are_the_books() -> None:
    at = train_page()
    assert at.radio(key="cfg_corpus").value == "ptb"
    assert at.radio(key="cfg_mode").value == "fast"
    assert at.selectbox(key="cfg_device").value == "auto"
    assert at.number_input(key="cfg_sgd_lr").value == pytest.approx(0.075)
    next(b for b in at.button if b.label == "Reproduce the book").click().run()
    assert at.radio(key="cfg_mode").value == "book"
    for name, value in BOOK_DEFAULTS.items():
        assert at.number_input(key=f"cfg_{name}").value == pytest.approx(value), name
    assert at.text_input(key="watch_words").value == "chip, bank, monday"


def test_short_training_completes_and_shows_on_home() -> None:
    at = train_page()
    at.radio(key="cfg_corpus").set_value("lee")
    at.number_input(key="cfg_min_freq").set_value(5)
    at.number_input(key="cfg_epochs").set_value(3)
    at.text_input(key="watch_words").set_value("police, chip")
    start(at)
    assert not at.error
    [run] = list_runs()
    assert run.config().epochs == 3 and run.config().corpus == "lee"
    assert wait_until_done(run).state == "finished"

    at.run()
    assert any("Finished 3 epochs" in s.value for s in at.success)
    assert at.get("plotly_chart"), "the loss chart is drawn"
    assert any("loss points logged" in c.value for c in at.caption)
    watch = at.dataframe[0].value.set_index("word")
    assert watch.loc["police"].iloc[0].count(",") == 4  # five neighbours
    assert "not in the vocabulary" in watch.loc["chip"].iloc[0]

    at.switch_page("pages/home.py").run()
    table = at.dataframe[0].value.set_index("run")
    assert table.loc[run.name, "state"] == "✓ finished"


def test_invalid_hyperparameters_show_a_message_and_start_nothing() -> None:
    at = train_page()
    at.radio(key="cfg_mode").set_value("book").run()
    at.number_input(key="cfg_lr").set_value(0.0)
    start(at)
    assert any(plain(e.value).startswith("Nothing was started. Learning rate (Adam) must be") for e in at.error)
    assert any(e.value.startswith("Learning rate (Adam) must be between") for e in at.error)  # under its field
    assert list_runs() == []


def test_upload_without_a_file_starts_nothing() -> None:
    at = train_page()
    at.radio(key="cfg_corpus").set_value("upload").run()
    start(at)
    assert any("Choose a text file" in e.value for e in at.error)
    assert list_runs() == []


def test_missing_ptb_is_refused_before_a_run_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("W2V_DATA_DIR", str(tmp_path / "empty"))  # PTB cannot be read there
    at = train_page()
    start(at)
    assert any("Nothing was started" in e.value and "ptb.zip" in e.value for e in at.error)
    assert not runs_root().exists()


def test_failed_run_shows_the_corpus_error(tmp_path: Path) -> None:
    run = Run.create(TrainConfig(corpus=str(tmp_path / "gone.txt")), name="gone")
    with pytest.raises(CorpusError):
        train_run(run)  # the file went away after the run was created
    at = train_page()
    assert any("Training failed" in e.value and "no such file" in e.value for e in at.error)
    assert not button(at, "Resume").disabled


def test_uploaded_corpus_is_saved_under_uploads_and_trained() -> None:
    from tests.conftest import synthetic_text

    at = train_page()
    at.radio(key="cfg_corpus").set_value("upload").run()
    at.file_uploader(key="upload").upload("my corpus!.txt", synthetic_text().encode(), "text/plain").run()
    at.number_input(key="cfg_min_freq").set_value(2)
    at.number_input(key="cfg_epochs").set_value(2)
    start(at)
    assert not at.error
    [run] = list_runs()
    corpus = Path(run.config().corpus)
    assert corpus.parent == runs_root() / "uploads"
    assert corpus.name.endswith("-my-corpus-.txt") and corpus.read_text(encoding="utf-8") == synthetic_text()
    assert wait_until_done(run).state == "finished"


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_a_second_tab_sees_the_live_run_and_can_stop_it_and_resume() -> None:
    first = train_page()
    first.radio(key="cfg_corpus").set_value("lee")
    first.number_input(key="cfg_min_freq").set_value(5)
    first.number_input(key="cfg_epochs").set_value(200)
    start(first)
    [run] = list_runs()
    deadline = time.monotonic() + 30
    while not run.metrics():
        assert time.monotonic() < deadline
        time.sleep(0.05)

    second = train_page()  # a new session, as a reload or a second tab
    assert second.selectbox(key="shown_run").value == run.name
    assert not button(second, "Stop").disabled
    assert not button(second, "Start").disabled and "queues" in button(second, "Start").help
    button(second, "Stop").click().run()
    status = wait_until_done(run)
    assert status.state == "stopped" and status.epochs_done < 200

    first.run()
    assert any("Stopped" in w.value for w in first.warning)
    assert not button(first, "Resume").disabled
    button(first, "Resume").click().run()
    assert run.status().state in ("queued", "running", "finished")
    button(first, "Stop").click().run()
    assert wait_until_done(run).state == "stopped"
