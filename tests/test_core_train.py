"""Training: events, determinism, stop flag, NaN, checkpoints and resume on a small corpus."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from core import job, trainer
from core.config import TrainConfig
from core.data.corpora import read_text_file
from core.data.prepared import Prepared
from core.data.sampling import NoiseTable
from core.engines.fast_torch import FastEngine
from core.explore.vectors import Embeddings, watch_words
from core.job import train_run
from core.runs import MetricRow, Run
from core.trainer import Trainer, TrainingError

CPU = torch.device("cpu")


def config(corpus: Path, **changes: object) -> TrainConfig:
    base = {"corpus": str(corpus), "min_freq": 2, "subsample": 1e-2, "embed_size": 16, "epochs": 3, "threads": 1}
    return TrainConfig.from_dict({**base, **changes})


def trained_vectors(cfg: TrainConfig) -> np.ndarray:
    run = Run.create(cfg)
    train_run(run)
    return run.load_vectors()[0].numpy()


@pytest.mark.parametrize("mode", ["fast", "book"])
def test_same_seed_same_vectors(tiny_corpus: Path, mode: str) -> None:
    cfg = config(tiny_corpus, mode=mode, batch_size=64)
    first, second = trained_vectors(cfg), trained_vectors(cfg)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, trained_vectors(cfg.replace(seed=1)))


@pytest.mark.parametrize("mode", ["fast", "book"])
def test_resumed_run_equals_uninterrupted_run(tiny_corpus: Path, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trainer, "EVENT_INTERVAL_S", 0.0)  # an event after every step: stop inside epoch 3
    cfg = config(tiny_corpus, mode=mode, epochs=4, batch_size=32)
    expected = trained_vectors(cfg)
    run = Run.create(cfg)
    stop = threading.Event()

    def stop_in_epoch_three(event: MetricRow) -> None:
        if event.epoch == 3 or (event.epoch == 2 and event.kind == "epoch"):
            stop.set()

    summary = train_run(run, [stop_in_epoch_three], stop)
    assert summary.outcome.stopped and run.status().state == "stopped"
    assert len(summary.outcome.epoch_losses) == 2
    resumed = train_run(Run.open(run.name), resume=True)
    assert not resumed.outcome.stopped and len(resumed.outcome.epoch_losses) == 4
    np.testing.assert_array_equal(run.load_vectors()[0].numpy(), expected)
    epochs = [m.epoch for m in run.metrics() if m.kind == "epoch"]
    assert epochs == [1, 2, 3, 4]


def test_events_report_progress(tiny_corpus: Path) -> None:
    events: list[MetricRow] = []
    summary = train_run(Run.create(config(tiny_corpus, epochs=2)), [events.append])
    epoch_events = [e for e in events if e.kind == "epoch"]
    assert [e.epoch for e in epoch_events] == [1, 2]
    assert epoch_events[-1].fraction == pytest.approx(1.0) and epoch_events[-1].eta_s == pytest.approx(0.0)
    assert all(e.tokens_per_s > 0 and e.centers_per_s > 0 and np.isfinite(e.loss) for e in events)
    assert [e.loss for e in epoch_events] == pytest.approx(summary.outcome.epoch_losses)
    status = summary.run.status()
    assert status.state == "finished" and status.epochs_done == 2


def test_loss_goes_down_and_groups_separate(tiny_corpus: Path) -> None:
    cfg = config(tiny_corpus, epochs=8, embed_size=24, sgd_lr=0.05)
    run = Run.create(cfg)
    losses = train_run(run).outcome.epoch_losses
    assert losses[-1] < losses[0]
    top = [w for w, _ in Embeddings.from_run(run).neighbors("cat1", k=5)]
    assert sum(w.startswith("cat") for w in top) >= 4, top


def test_stop_flag_ends_training_quickly(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text(" ".join(f"w{i % 300}" for i in range(200_000)) + "\n", encoding="utf-8")
    run = Run.create(config(big, epochs=1000, subsample=0.0, mode="book"))
    stop = threading.Event()
    started = threading.Event()
    worker = threading.Thread(target=train_run, args=(run, [lambda e: started.set()], stop))
    worker.start()
    assert started.wait(60)
    stop.set()
    worker.join(timeout=2)
    assert not worker.is_alive()
    assert run.status().state == "stopped"


def test_nan_loss_stops_with_a_clear_message(tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("core.engines.fast_cpu.train_chunk", lambda *a: (float("nan"), 1))
    run = Run.create(config(tiny_corpus))
    with pytest.raises(TrainingError, match=r"became nan.*Lower the learning rate"):
        train_run(run)
    assert run.status().state == "failed" and "nan" in run.status().message


def test_torch_kernel_of_the_fast_mode_trains(tiny_corpus: Path) -> None:
    """The GPU code path (batched tensor operations) run on CPU tensors."""
    cfg = config(tiny_corpus, epochs=6, batch_size=16, sgd_lr=0.05)
    data = Prepared.build(read_text_file(tiny_corpus), cfg.min_freq, CPU)
    trainer = Trainer(cfg, data)
    noise = NoiseTable(data.vocab.counts)
    trainer.engine = FastEngine(trainer.model, cfg.sgd_lr, cfg.negatives, noise, 16)
    losses = trainer.train().epoch_losses
    assert losses[-1] < losses[0] - 0.05


def test_watch_words_are_ranked_on_one_blas_thread(tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a product on several threads, OpenBLAS's idle pool spins for about 0.1 s of a core; in a
    training process that core is the workers' (the app's runs, which have watch words, lost a fifth)."""
    threads: list[int] = []

    def ranked(embeddings: Embeddings, words: list[str]) -> list:
        threads.append(max(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"))
        return watch_words(embeddings, words)

    monkeypatch.setattr(job, "watch_words", ranked)
    run = Run.create(config(tiny_corpus))
    run.set_watch_words(["cat1"])
    with threadpool_limits(2, user_api="blas"):  # as on any machine of two cores or more
        train_run(run)
    assert threads and set(threads) == {1}
    reader = run.metrics_reader()
    reader.poll()
    assert reader.watch is not None and reader.watch.results[0].word == "cat1"


def test_the_books_centers_per_second_count_every_rank() -> None:
    """With two ranks at the same speed, the book's tokens/sec doubles, as raw tokens/s does."""
    from core.trainer import Progress

    progress = Progress(epochs=1, shard_tokens=1000, before=0.0, first_epoch=0)
    progress.start_segment(raw_tokens=1000, centers=600)
    progress.add(300)
    alone = progress.point("step", 0.5)
    progress.ranks = [alone.tokens_per_s, alone.tokens_per_s]
    both = progress.point("step", 0.5)
    assert both.tokens_per_s == pytest.approx(2 * alone.tokens_per_s, rel=1e-9)
    assert both.centers_per_s == pytest.approx(2 * alone.centers_per_s, rel=1e-9)
    assert alone.centers_per_s == pytest.approx(alone.tokens_per_s * 0.6, rel=1e-6)
