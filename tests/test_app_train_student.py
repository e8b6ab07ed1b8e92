"""Train page, as a student meets it: the book's speed beside ours, a stopped run without an ETA, the loss
chart's smoothing and log scale, a form that stays open, PTB offline, and a failed resume said once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import open_app_page, plain, ptb_data_dir, wait_for

from core.config import TrainConfig
from core.data import corpora
from core.runs import MetricRow, Run, Status, list_runs, runs_root
from core.runs.launcher import _settle
from pages.parts.live import CENTERS_LABEL, RAW_LABEL, progress_text


def stopped_run(tmp_path: Path) -> Run:
    """A run stopped at 71% of 2 epochs, its rows carrying both speeds."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c d\n", encoding="utf-8")
    run = Run.create(TrainConfig(corpus=str(corpus), epochs=2), name="stopped")
    for i, loss in enumerate((0.9, 0.7, 0.6, 0.5), 1):
        run.append_metric(MetricRow("step", 1, 0.71 * i / 4, loss, 20_000.0, i * 0.5, 3.0, time.time(), (), 15_000.0))
    run.set_status("stopped", "stopped by the user", epochs_done=1)
    return run


def test_a_stopped_run_says_where_it_stopped_with_both_speeds_named(tmp_path: Path) -> None:
    run = stopped_run(tmp_path)
    at = open_app_page("pages/train.py")
    [bar] = at.get("progress")
    assert bar.proto.text == "Stopped at 71%"
    shown = {m.label: m.value for m in at.metric}
    assert shown[CENTERS_LABEL] == "15,000" and shown[RAW_LABEL] == "20,000"
    assert any("D2L's train function prints: center words trained per second" in c.value for c in at.caption)
    assert run.metrics()[-1].centers_per_s == 15_000.0  # kept in the metrics file
    assert progress_text(run.metrics()[-1], "running") == "71% done · ETA 3 s"


def smoothed_trace(at) -> list[float]:
    [chart] = at.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    return next(trace["y"] for trace in spec["data"] if trace["name"] == "smoothed"), spec["layout"]


def test_the_smoothing_slider_and_log_toggle_redraw_the_stopped_runs_chart(tmp_path: Path) -> None:
    stopped_run(tmp_path)
    at = open_app_page("pages/train.py")
    line, layout = smoothed_trace(at)
    assert at.slider(key="loss_smoothing").value == pytest.approx(0.6)
    assert line[0] == pytest.approx(0.9) and line[1] == pytest.approx((0.6 * 0.4 * 0.9 + 0.4 * 0.7) / 0.64)
    at.slider(key="loss_smoothing").set_value(0.0).run()
    at.toggle(key="loss_log").set_value(True).run()
    line, layout = smoothed_trace(at)
    assert line == pytest.approx([0.9, 0.7, 0.6, 0.5]) and layout["yaxis"]["type"] == "log"


def test_the_form_keeps_its_state_after_a_start() -> None:
    """The form's expander is given the same `expanded` at every rerun of a session; it changed from open to
    closed at the first rerun after a Start, and the browser then folded the form under the user's hands."""
    at = open_app_page("pages/train.py", cfg_corpus="lee", cfg_min_freq=5.0, cfg_epochs=400.0)
    form = next(e for e in at.expander if e.label == "Corpus and hyperparameters")
    assert form.proto.expanded
    next(b for b in at.button if b.label == "Start").click().run()
    [started] = list_runs()
    wait_for(lambda: started.status().state == "running")
    at.number_input(key="cfg_epochs").set_value(3.0).run()
    form = next(e for e in at.expander if e.label == "Corpus and hyperparameters")
    assert form.proto.expanded


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PTB on this machine (no W2V_DATA_DIR, an empty cache) and no network."""
    monkeypatch.delenv("W2V_DATA_DIR", raising=False)

    def unreachable(*args: object, **kwargs: object) -> None:
        raise OSError("Network is unreachable")

    monkeypatch.setattr(corpora.urllib.request, "urlopen", unreachable)


def test_offline_the_form_says_ptb_will_be_downloaded_and_takes_a_copy(offline: None, tmp_path: Path) -> None:
    at = open_app_page("pages/train.py")
    assert any("not on this machine yet: Start downloads it" in i.value for i in at.info)
    next(b for b in at.button if b.label == "Start").click().run()
    [error] = at.error
    assert "Nothing was started. Could not download" in error.value and "copy of ptb.zip" in error.value
    assert not runs_root().exists(), "a Start that cannot have its corpus leaves no run behind"

    fake = tmp_path / "ptb.zip"
    fake.write_bytes(b"not the book's file")
    at.text_input(key="cfg_ptb_zip").set_value(str(fake)).run()
    next(b for b in at.button if b.label == "Start").click().run()
    assert any("not the book's ptb.zip" in plain(e.value) for e in at.error)
    assert not runs_root().exists()


def test_a_copy_of_ptb_is_checked_and_cached_for_every_later_run(offline: None) -> None:
    source = ptb_data_dir()
    if source is None:
        pytest.skip("ptb.zip not found: set W2V_DATA_DIR to the folder holding it")
    assert corpora.ptb_needs_download()
    cached = corpora.install_ptb(source)  # a folder holding ptb.zip will do, as for --data-dir
    assert cached == corpora.cache_dir() / "ptb.zip" and not corpora.ptb_needs_download()


def test_a_failed_resume_says_its_error_once(tmp_path: Path) -> None:
    """Each attempt writes its error to the run's log; the message used to join the last lines with " | ",
    so the error of the attempt before showed too."""
    run = Run.create(TrainConfig(corpus=str(tmp_path / "gone.txt")), name="twice")
    before = Status("failed", "the first attempt failed")
    with run.open_log() as log:
        log.write(b"error: could not download ptb.zip\nerror: could not download ptb.zip (again)\n")
    run.set_status("queued", "waiting")
    _settle(run, run.saved_status(), (before, 0), 2)
    message = run.status().message
    assert message == "Resume failed, the run is as it was: could not download ptb.zip (again)"
    assert run.status().state == "failed"


def test_a_training_writes_the_books_tokens_per_second_with_its_metrics(lee_run: Run) -> None:
    rows = lee_run.metrics()
    assert rows and all(row.centers_per_s is not None and row.centers_per_s > 0 for row in rows)
    assert all(row.centers_per_s < row.tokens_per_s for row in rows)  # subsampling drops frequent words


def test_resume_is_offered_when_the_process_lets_go_of_its_run_while_the_page_draws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The training process releases its run between two looks of the page: the buttons and the panel follow
    one look, so the page never shows an ended run under a greyed Resume that nothing redraws."""
    from core.runs.launcher import Launcher

    stopped_run(tmp_path)
    # The process lets go of the run just after the buttons are drawn, as the page lists the queue below them;
    # with a look of their own, the buttons showed Resume greyed under the ended run's view, which nothing redrew.
    held = [True]
    queued_runs = Launcher.queued_runs

    def queue_listed(self: Launcher) -> list[Run]:
        held[0] = False
        return queued_runs(self)

    monkeypatch.setattr(Launcher, "queued_runs", queue_listed)
    monkeypatch.setattr(Launcher, "is_live", lambda self, run: held[0])
    at = open_app_page("pages/train.py")
    assert not at.exception
    [resume] = [b for b in at.button if b.label == "Resume"]
    assert not resume.disabled and at.get("progress")[0].proto.text == "Stopped at 71%"
