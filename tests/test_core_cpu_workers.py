"""The fast mode's CPU workers: who trains what, that nobody waits for a stalled worker, and the kernel's inputs."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from core.config import TrainConfig
from core.data.corpora import read_text_file
from core.data.prepared import Prepared
from core.data.sampling import NoiseTable, sample_epoch
from core.engines import fast_cpu
from core.engines.kernel_batched import noise_thresholds
from core.engines.kernel_numba import LOSS_EVERY, chunk_contexts, draw_chunk_noise, sgd_centers, train_chunk
from core.engines.stretches import Stretches
from core.train import Trainer

CPU = torch.device("cpu")


def claims(stretches: Stretches, worker: int) -> list[int]:
    taken = []
    while (claim := stretches.claim(worker)) is not None:
        taken.append(claim[0])
    return taken


def test_each_worker_walks_its_own_stretch_in_order() -> None:
    stretches = Stretches(0, 10_000, 1_000, 2)
    assert [stretches.claim(0)[0] for _ in range(3)] == [0, 1, 2]
    assert [stretches.claim(1)[0] for _ in range(3)] == [5, 6, 7]
    assert stretches.claim(1)[1:] == (8_000, 9_000)
    assert stretches.taken == 0


def test_an_idle_worker_takes_from_the_end_of_the_fullest_stretch() -> None:
    stretches = Stretches(100, 10_150, 1_000, 3)  # 11 chunks: stretches of 3, 4 and 4
    assert claims(stretches, 2) == [7, 8, 9, 10, 6, 2, 5, 1, 4, 0, 3]  # ties go to the first stretch
    assert stretches.taken == 7
    assert stretches.claim(0) is None and stretches.claim(1) is None


def test_every_chunk_is_trained_once_whoever_claims_it() -> None:
    stretches = Stretches(0, 1_000_003, 1_024, 4)
    taken: list[int] = []
    threads = [threading.Thread(target=lambda w=w: taken.extend(claims(stretches, w))) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == list(range(977))


def small_trainer(corpus: Path, workers: int) -> Trainer:
    cfg = TrainConfig(corpus=str(corpus), min_freq=2, subsample=1e-2, embed_size=16, epochs=1, threads=workers)
    return Trainer(cfg, Prepared.build(read_text_file(corpus), cfg.min_freq, CPU))


def test_a_stalled_worker_does_not_hold_back_the_others(tiny_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker 0 stops in its first chunk until the other workers have found nothing left to train.

    If any worker waited for another inside the epoch, this would never finish.
    """
    others_done = threading.Event()
    finished: set[int] = set()
    schedules: list[Stretches] = []

    class Watched(Stretches):
        def __init__(self, *args: int) -> None:
            super().__init__(*args)
            schedules.append(self)

        def claim(self, worker: int) -> tuple[int, int, int] | None:
            claim = super().claim(worker)
            if claim is None and worker != 0:
                finished.add(worker)
                if len(finished) == 2:
                    others_done.set()
            return claim

    trained: list[tuple[str, int]] = []
    real = fast_cpu.train_chunk

    def kernel(*args: object) -> float:
        name = threading.current_thread().name
        if name == "w2v-worker-0" and not trained.count((name, -1)):
            trained.append((name, -1))
            assert others_done.wait(60), "the other workers stopped while worker 0 was stalled"
        trained.append((name, int(args[5])))
        return real(*args)

    monkeypatch.setattr(fast_cpu, "KERNEL_CHUNK", 64)
    monkeypatch.setattr(fast_cpu, "Stretches", Watched)
    monkeypatch.setattr(fast_cpu, "train_chunk", kernel)
    outcome = small_trainer(tiny_corpus, workers=3).train()
    assert not outcome.stopped and len(schedules) == 1  # one epoch, one segment: the workers met once
    firsts = [first for name, first in trained if first >= 0]
    chunks = -(-(schedules[0].stop - schedules[0].start) // schedules[0].chunk)  # 64, or a tiny run's step
    assert len(firsts) == len(set(firsts)) == chunks  # every chunk once, worker 0's stretch included
    assert [name for name, first in trained if first >= 0].count("w2v-worker-0") == 1
    assert schedules[0].taken > 0


def test_a_chunk_trained_in_the_kernel_equals_the_reference_update_of_its_inputs(tiny_corpus: Path) -> None:
    """The kernel's own contexts equal the sampler's, and its update equals `sgd_centers` on them."""
    data = Prepared.build(read_text_file(tiny_corpus), 2, CPU)
    segment = next(data.segments())
    keep = torch.ones(len(data.vocab), dtype=torch.float64)
    keep[0] = 0.0
    sample = sample_epoch(segment.ids, segment.sentence, keep, 5, torch.Generator().manual_seed(3))
    ids, sentence, window = sample.ids.long().numpy(), sample.sentence.numpy(), sample.window.numpy()
    start, stop = 40, 140
    contexts = np.empty((stop - start, 10), dtype=np.int64)
    chunk_contexts(ids, sentence, window, start, stop, 5, contexts)
    np.testing.assert_array_equal(contexts, sample.contexts(start, stop).numpy())

    table = NoiseTable(data.vocab.counts)
    threshold, alias = noise_thresholds(table.prob.numpy()), table.alias.numpy()
    noise = np.empty((stop - start, 5), dtype=np.int64)
    draw_chunk_noise(ids[start:stop], start, threshold, alias, 7, noise)
    rng = np.random.default_rng(0)
    v, u = (rng.normal(0, 0.1, (len(data.vocab), 8)).astype(np.float32) for _ in range(2))
    v2, u2 = v.copy(), u.copy()
    n = len(ids)
    losses = sgd_centers(v, u, ids[start:stop], contexts, noise, 0.1 * (1 - start / n), 0.1 * (1 - stop / n))
    total, scored = train_chunk(v2, u2, ids, sentence, window, start, stop, 5, threshold, alias, 5, 0.1, 0.0, 7)
    every = np.arange(start, stop) % LOSS_EVERY == 0  # the kernel scores every LOSS_EVERY-th center only
    assert scored == every.sum() > 0
    np.testing.assert_allclose(total, losses[every].sum(), rtol=1e-5)
    np.testing.assert_allclose(v2, v, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(u2, u, rtol=1e-5, atol=1e-7)


def test_threads_share_one_model_and_the_loss_falls(tiny_corpus: Path) -> None:
    trainer = small_trainer(tiny_corpus, workers=2)
    trainer.cfg = trainer.cfg.replace(epochs=4)
    losses = trainer.train().epoch_losses
    # the tiny corpus's epoch losses wander by about 0.01; the fall over 4 epochs measured 0.019 to 0.039
    assert losses[-1] < losses[0] - 0.01
