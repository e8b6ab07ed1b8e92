"""The live view tells the truth: time goes on across Stop and Resume, every run draws enough loss points,
watch words the run knows, the queue shown once and a refused Start that does not sit under an old result."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest
from conftest import open_app_page

from core import trainer
from core.config import TrainConfig
from core.explore.vectors import STOP_WORDS, default_watch_words, parse_words
from core.job import train_run
from core.runs import MetricRow, Run

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def config(corpus: Path, **changes: object) -> TrainConfig:
    base = {"corpus": str(corpus), "min_freq": 2, "subsample": 1e-2, "embed_size": 16, "epochs": 4, "threads": 1}
    return TrainConfig.from_dict({**base, **changes})


def slow_steps(event: MetricRow) -> None:
    """Make each part of the run take measurable time (a tiny corpus trains in milliseconds)."""
    if event.kind == "step":
        time.sleep(0.005)


@pytest.fixture
def resumed_run(tiny_corpus: Path) -> tuple[Run, float]:
    """A 4-epoch run stopped after epoch 2 and resumed to the end; also the seconds of its second part."""
    run = Run.create(config(tiny_corpus), name="resumed")
    stop = threading.Event()

    def stop_after_two(event: MetricRow) -> None:
        if event.kind == "epoch" and event.epoch == 2:
            stop.set()

    assert train_run(run, [slow_steps, stop_after_two], stop).outcome.stopped
    second = train_run(Run.open(run.name), [slow_steps], resume=True)
    assert not second.outcome.stopped
    return run, second.outcome.train_seconds


def test_elapsed_time_goes_on_across_stop_and_resume(resumed_run: tuple[Run, float]) -> None:
    run, second_part = resumed_run
    rows = run.metrics()
    elapsed = [row.elapsed_s for row in rows]
    assert elapsed == sorted(elapsed), "a resumed run's rows never go back in time"
    assert [row.epoch for row in rows if row.kind == "epoch"] == [1, 2, 3, 4]
    first_part = next(row.elapsed_s for row in rows if row.kind == "epoch" and row.epoch == 2)
    assert first_part > 0.1 and second_part > 0.1
    status = run.status()
    assert status.state == "finished"
    assert status.train_seconds == pytest.approx(first_part + second_part, abs=0.05)  # both parts
    assert elapsed[-1] == pytest.approx(status.train_seconds, abs=0.05)
    fractions = [row.fraction for row in rows]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


def test_compare_and_train_pages_count_both_parts(resumed_run: tuple[Run, float], tiny_corpus: Path) -> None:
    run, second_part = resumed_run
    train_run(Run.create(config(tiny_corpus, epochs=1), name="other"))
    seconds = run.status().train_seconds
    assert seconds is not None and seconds > second_part + 0.1

    at = open_app_page("pages/train.py", shown_run=run.name)
    finished = [s.value for s in at.success if s.value.startswith("Finished")]
    assert finished and f"Finished 4 epochs in {seconds:.1f} s" in finished[0]

    at = open_app_page("pages/compare.py")
    at.radio(key="cmp_x").set_value("seconds").run()
    for per in ("step", "epoch"):
        at.radio(key="cmp_per").set_value(per).run()
        assert not at.exception
        traces = json.loads(at.get("plotly_chart")[0].proto.spec)["data"]
        x = next(trace["x"] for trace in traces if trace["name"] == run.name)
        assert x == sorted(x), f"the {per} line against seconds goes back"
        assert x[-1] == pytest.approx(seconds, abs=0.05)


@pytest.mark.parametrize("epochs", [1, 5])
def test_a_tiny_run_draws_at_least_50_loss_points(tiny_corpus: Path, epochs: int) -> None:
    run = Run.create(config(tiny_corpus, epochs=epochs))
    train_run(run)
    steps = [row for row in run.metrics() if row.kind == "step"]
    assert 50 <= len(steps) <= 2 * trainer.MIN_LOSS_POINTS + epochs
    fractions = [row.fraction for row in steps]
    assert fractions == sorted(fractions)
    reader = run.metrics_reader()
    reader.poll()
    assert reader.steps == len(steps)


def test_watch_words_default_to_the_runs_own_frequent_content_words(tiny_corpus: Path) -> None:
    tokens = ["<unk>", "the", "of", "cat1", "42", "car2", "bank"]
    assert default_watch_words(tokens, ["chip", "bank", "monday"]) == ["cat1", "bank", "car2"]
    assert default_watch_words(["<unk>", "the"], ["chip"]) == ["chip"]  # nothing better: the default stays

    run = Run.create(config(tiny_corpus, epochs=1), name="tiny")
    train_run(run)
    at = open_app_page("pages/train.py", shown_run=run.name)
    words = parse_words(at.text_input(key="watch_words").value)
    vocabulary = set(run.vocab().idx_to_token)
    assert len(words) == 3 and set(words) <= vocabulary and not set(words) & STOP_WORDS
    watched = at.dataframe[0].value["word"].tolist()
    assert watched == words

    at.text_input(key="watch_words").set_value("cat3").run()  # what the user types stays
    at.selectbox(key="shown_run").set_value(run.name).run()
    assert at.text_input(key="watch_words").value == "cat3"


def test_a_refused_start_names_the_users_file_and_hides_the_old_result(lee_run: Run) -> None:
    at = open_app_page("pages/train.py", shown_run=lee_run.name)
    assert any(s.value.startswith("Finished") for s in at.success)
    at.radio(key="cfg_corpus").set_value("upload").run()
    at.file_uploader(key="upload").upload("image.txt", PNG, "image/png").run()
    next(b for b in at.button if b.label == "Start").click().run()
    assert not at.exception
    error = " ".join(e.value for e in at.error)
    assert error.startswith("Nothing was started. image.txt") and "uploads" not in error
    assert not re.search(r"[0-9a-f]{10}-image", error)
    assert not any(s.value.startswith("Finished") for s in at.success), "the old run's result box is gone"
    next(b for b in at.button if b.label == f"Show run {lee_run.name}").click().run()
    assert any(s.value.startswith("Finished") for s in at.success)
