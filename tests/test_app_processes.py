"""Several training processes from the app (torchrun, gloo on CPU) and corpora given as a path on this machine."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import open_app_page
from streamlit.testing.v1 import AppTest

from core.config import ConfigError, TrainConfig
from core.runs import Run, list_runs
from core.runs.launcher import Launcher


def tiny_config(corpus: Path, epochs: int) -> TrainConfig:
    return TrainConfig(corpus=str(corpus), min_freq=2, embed_size=16, epochs=epochs, threads=1)


def start(at: AppTest) -> AppTest:
    next(b for b in at.button if b.label == "Start").click().run()
    assert not at.exception
    return at


def test_two_processes_train_stop_and_resume_through_the_launcher(tiny_corpus: Path, launcher: Launcher) -> None:
    run = launcher.start(tiny_config(tiny_corpus, 400), name="pair", processes=2, watch=["cat1"])
    deadline = time.monotonic() + 90
    while not any(row.rank_tokens_per_s for row in run.metrics()):
        assert time.monotonic() < deadline, "no per-rank progress within 90 s"
        time.sleep(0.2)
    assert launcher.is_live(run) and run.is_training()  # rank 0 holds the run's lock
    assert launcher.stop(run) and launcher.wait(run, timeout=90)
    assert run.status().state == "stopped"
    assert all(len(row.rank_tokens_per_s) == 2 for row in run.metrics() if row.rank_tokens_per_s)
    reader = run.metrics_reader()
    reader.poll()
    assert reader.watch is not None and reader.watch.results[0].word == "cat1"  # rank 0 wrote the neighbours

    run.update_config(epochs=run.epochs_done() + 1)
    launcher.resume(run, processes=1)  # another world size
    assert launcher.wait(run, timeout=90) and run.status().state == "finished"


def test_too_many_processes_are_refused_before_a_run_exists(tiny_corpus: Path, launcher: Launcher) -> None:
    with pytest.raises(ConfigError, match="processes"):
        launcher.start(tiny_config(tiny_corpus, 1), name="crowd", processes=(os.cpu_count() or 1) + 1)
    assert not list_runs()


def test_app_starts_two_processes_and_shows_each_ranks_throughput(tiny_corpus: Path) -> None:
    settings = {"cfg_corpus": "path", "cfg_corpus_path": str(tiny_corpus), "cfg_min_freq": 2, "cfg_epochs": 3}
    at = start(open_app_page("pages/train.py", **settings, cfg_embed_size=16, cfg_threads=1, cfg_processes=2))
    assert not at.error
    (run,) = list_runs()
    assert Run.open(run.name).config().corpus == str(tiny_corpus)
    deadline = time.monotonic() + 90
    while run.status().state in ("created", "queued", "running"):
        assert time.monotonic() < deadline, "the two-process run did not finish in 90 s"
        time.sleep(0.2)
    assert run.status().state == "finished", run.status()
    at.run()
    ranks = [d.value for d in at.dataframe if "raw tokens/s" in d.value.columns]
    assert ranks and list(ranks[0]["rank"]) == [0, 1] and (ranks[0]["raw tokens/s"] > 0).all()


@pytest.mark.parametrize(
    ("path", "message"),
    [("", "Type the path"), ("/no/such/corpus.txt", "is not a file on this machine")],
)
def test_bad_corpus_path_starts_nothing(path: str, message: str) -> None:
    at = start(open_app_page("pages/train.py", cfg_corpus="path", cfg_corpus_path=path))
    assert message in at.error[0].value and not list_runs()


def test_processes_field_is_refused_out_of_range(tiny_corpus: Path) -> None:
    at = start(
        open_app_page(
            "pages/train.py", cfg_corpus="path", cfg_corpus_path=str(tiny_corpus), cfg_min_freq=2, cfg_processes=0
        )
    )
    assert "processes" in at.error[0].value.lower() and not list_runs()
