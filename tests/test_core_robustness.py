"""Hardening of the core: a killed process loses nothing, repeated runs leak nothing, odd corpora fail clearly."""

from __future__ import annotations

import gc
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, synthetic_text

from core.config import TrainConfig
from core.data import corpora
from core.data.corpora import CorpusError, read_text_file
from core.data.vocab import Vocab, VocabError
from core.job import train_run
from core.runs import Run, RunError


def big_corpus(tmp_path: Path) -> Path:
    path = tmp_path / "big.txt"
    path.write_text(synthetic_text(sentences=6000, seed=3), encoding="utf-8")
    return path


def crash_config(corpus: Path) -> TrainConfig:
    return TrainConfig(
        corpus=str(corpus), min_freq=2, subsample=1e-2, embed_size=16, epochs=4, mode="book", batch_size=8, threads=1
    )


def test_killed_process_resumes_to_the_same_vectors(tmp_path: Path, isolated_runs: Path) -> None:
    cfg = crash_config(big_corpus(tmp_path))
    reference = Run.create(cfg, "reference")
    train_run(reference)
    victim = Run.create(cfg, "victim")
    command = [sys.executable, "-m", "core", "train", "--resume", victim.name]
    process = subprocess.Popen(
        command, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while not any(m.epoch == 3 for m in victim.metrics()):
            assert time.monotonic() < deadline and process.poll() is None, "training ended before epoch 3"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        process.kill()
    assert victim.status().state == "interrupted"
    assert not victim.has_vectors()
    _, meta = victim.load_checkpoint()
    assert len(meta["epoch_losses"]) == 2
    resumed = train_run(Run.open("victim"), resume=True)
    assert len(resumed.outcome.epoch_losses) == 4
    np.testing.assert_array_equal(victim.load_vectors()[0].numpy(), reference.load_vectors()[0].numpy())


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_start_stop_resume_twenty_times_leaks_nothing(tiny_corpus: Path) -> None:
    cfg = TrainConfig(corpus=str(tiny_corpus), min_freq=2, embed_size=8, epochs=40, threads=1)
    run = Run.create(cfg)

    def cycle(resume: bool) -> None:
        stop = threading.Event()
        train_run(run, [lambda event: stop.set() if event.kind == "epoch" else None], stop, resume=resume)

    cycle(False)
    gc.collect()
    threads, files = threading.active_count(), open_files()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(20):
        cycle(True)
    gc.collect()
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024
    print(  # the figures, shown with `pytest -s`
        f"soak, 20 stop/resume cycles: threads {threads} -> {threading.active_count()}, "
        f"open files {files} -> {open_files()}, peak memory +{grown_mb:.1f} MB"
    )
    assert threading.active_count() == threads
    assert open_files() == files
    assert grown_mb < 50, f"peak memory grew by {grown_mb:.0f} MB over 20 cycles"
    assert run.status().state == "stopped"
    assert 20 <= run.status().epochs_done <= 21


def test_one_word_repeated_is_refused() -> None:
    with pytest.raises(VocabError, match="at least 2 words"):
        Vocab.build([["again"] * 50] * 10, min_freq=10)


def test_single_50_mb_line_loads(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_text(" ".join(f"w{i % 5000}" for i in range(9_000_000)), encoding="utf-8")
    assert path.stat().st_size > 50e6
    sentences = read_text_file(path)
    assert len(sentences) == 1 and len(sentences[0]) == 9_000_000


def test_gzip_bomb_stops_at_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    monkeypatch.setattr(corpora, "MAX_TEXT_BYTES", 1_000_000)
    path = tmp_path / "bomb.txt.gz"
    path.write_bytes(gzip.compress(b"a " * 5_000_000))
    assert path.stat().st_size < 50_000
    with pytest.raises(CorpusError, match="expands past"):
        read_text_file(path)


def test_no_unsafe_deserialisation_in_the_code() -> None:
    """Nothing a user can supply is unpickled: no pickle, and torch.load only with weights_only=True."""
    sources = [p for p in ROOT.rglob("*.py") if ".venv" not in p.parts and "tests" not in p.parts]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\bimport pickle\b|\bpickle\.load|\bnp\.load\([^)]*allow_pickle=True", text), path
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, (path, call)


def test_out_of_memory_names_a_batch_size_and_the_run_resumes(
    tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.engines.book import BookEngine
    from core.trainer import TrainingError

    cfg = TrainConfig(
        corpus=str(tiny_corpus), min_freq=2, subsample=0.0, embed_size=8, epochs=3, mode="book", batch_size=64
    )  # 75 steps an epoch: the failure comes in epoch 2
    run = Run.create(cfg)
    real_step = BookEngine.step
    calls = {"n": 0}

    def flaky_step(self: BookEngine, *args: object) -> object:
        calls["n"] += 1
        if calls["n"] == 100:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return real_step(self, *args)

    monkeypatch.setattr(BookEngine, "step", flaky_step)
    with pytest.raises(TrainingError, match="batch_size=32"):
        train_run(run)
    assert run.status().state == "failed" and "batch_size=32" in run.status().message
    assert run.load_checkpoint() is not None
    monkeypatch.setattr(BookEngine, "step", real_step)
    run.update_config(batch_size=32)
    assert train_run(run, resume=True).outcome.epoch_losses[-1] > 0
    assert run.status().state == "finished"
    with pytest.raises(RunError, match="embed_size cannot change"):
        run.update_config(embed_size=4)
