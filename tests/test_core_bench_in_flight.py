"""`python -m core bench --in-flight`: its engine trains through the Trainer, and the figures it derives."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.bench import in_flight
from core.bench.systems import zipf_corpus
from core.config import TrainConfig
from core.data.corpora import read_text_file
from core.data.prepared import Prepared
from core.data.sampling import NoiseTable
from core.train import Trainer


def row(ws: float, simlex: float) -> dict[str, float]:
    return {"ws353": ws, "simlex": simlex, "mean_loss": 0.4, "train_s": 1.0}


def test_the_largest_kept_p_stops_at_the_first_that_misses_the_bar() -> None:
    good, low_simlex = row(0.35, 0.2), row(0.35, 0.16)
    assert in_flight.largest_kept({1: [good, good], 33: [good, good], 66: [good, low_simlex], 132: [good] * 2}) == 33
    assert in_flight.largest_kept({1: [row(0.29, 0.2)], 33: [good]}) is None


def test_the_default_concurrency_formula_clamps_to_32_and_twice_the_sms() -> None:
    assert in_flight.default_concurrency(2.0, 600.0, 5, 132) == 200
    assert in_flight.default_concurrency(2.0, 60.0, 5, 132) == 32
    assert in_flight.default_concurrency(2.0, 6000.0, 5, 132) == 264


def test_the_zipf_corpus_effective_words_come_from_its_expected_counts() -> None:
    sampled = NoiseTable(zipf_corpus(400_000, 1_000, 0, torch.device("cpu")).vocab.counts).effective_words
    assert in_flight.zipf_effective_words(400_000, 1_000) == pytest.approx(sampled, rel=0.01)


def test_the_emulation_trains_through_the_trainer_and_the_loss_falls(tiny_corpus: Path) -> None:
    cfg = TrainConfig(corpus=str(tiny_corpus), min_freq=2, subsample=1e-2, embed_size=16, epochs=3, device="cpu")
    data = Prepared.build(read_text_file(tiny_corpus), cfg.min_freq, torch.device("cpu"))
    trainer = Trainer(cfg, data)
    noise = NoiseTable(data.vocab.counts)
    trainer.engine = in_flight.InFlightEngine(trainer.model, cfg.sgd_lr, cfg.negatives, noise, 4)
    before = trainer.model.embed_v.weight.detach().clone()
    losses = trainer.train().epoch_losses
    assert losses[-1] < losses[0] - 0.03  # it fell by 0.055 to 0.06 over seeds 0-3
    assert not torch.equal(before, trainer.model.embed_v.weight.detach())  # the tables are the engine's arrays
