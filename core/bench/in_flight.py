"""`python -m core bench --in-flight`: word-vector quality against the number of centers a GPU trains at once.

Trains PTB with the fast mode's defaults through `core.engines.kernel_batched.train_in_flight`, which
interleaves P programs' reads and adds as the GPU kernel does (each program its own epoch-wide stretch), for
each P and seed, and scores WS353 and SimLex. The largest P that keeps both scores above the bar on every seed
sets the constant c of the default concurrency P = clamp(round(c * (1/Σp²) / (K+1)), 32, 2 * SMs), where 1/Σp²
is the noise distribution's number of effectively distinct words (`NoiseTable.effective_words`): centers in
flight, times the K+1 output rows each holds, per distinct noise word.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from core.config import TrainConfig
from core.data.corpora import load_corpus
from core.data.prepared import Prepared
from core.data.sampling import EpochSample, NoiseTable
from core.engines.base import PlainSgd, Steps, learning_rates
from core.engines.kernel_batched import noise_thresholds, train_in_flight
from core.model import SkipGram
from core.train import Trainer

PROGRAMS = (1, 33, 66, 132, 264, 528, 1056)
WS353_BAR, SIMLEX_BAR = 0.30, 0.17
H100_SMS = 132
SCALE_TOKENS, SCALE_VOCAB = 100_000_000, 100_000  # the GPU check's synthetic corpus (core.bench.systems.zipf_corpus)
FLOOR = 32


class InFlightEngine(PlainSgd):
    """The fast mode as `programs` GPU programs would train it, emulated in the caller's thread."""

    shuffles = False
    splittable = True  # steps only flush the changes in flight; stretches are epoch-wide whatever their size
    chunk = 1 << 22

    def __init__(self, model: SkipGram, lr: float, negatives: int, noise: NoiseTable, programs: int) -> None:
        super().__init__(model, lr, negatives, noise)
        self.v, self.u = (table.numpy() for table in self.tables)
        self.threshold, self.alias = noise_thresholds(noise.prob.numpy()), noise.alias.numpy()
        self.programs = programs

    def run(
        self, sample: EpochSample, bounds: list[tuple[int, int]], span: tuple[float, float], gen: torch.Generator
    ) -> Iterator[Steps]:
        ids = sample.ids.numpy().astype(np.int64, copy=False)
        sentence = sample.sentence.numpy().astype(np.int64, copy=False)
        lr_from, lr_to = learning_rates(self.lr, span)
        seed = int(torch.randint(0, 1 << 62, (), generator=gen))
        for start, stop in bounds:
            loss, scored = train_in_flight(
                self.v, self.u, ids, sentence, sample.window.numpy(), sample.max_window, self.threshold,
                self.alias, self.negatives, seed, lr_from, lr_to, self.programs, start, stop,
            )  # fmt: skip
            yield stop - start, torch.tensor(loss, dtype=torch.float64), scored


def train(data: Prepared, programs: int, seed: int, epochs: int) -> dict[str, Any]:
    """PTB with the fast mode's defaults and `programs` centers in flight: scores and mean epoch loss."""
    from core.explore.evaluate import PAIR_SETS, keyed_vectors, word_pairs

    cfg = TrainConfig(seed=seed, epochs=epochs, device="cpu")
    trainer = Trainer(cfg, data)
    noise = NoiseTable(data.vocab.counts)
    trainer.engine = InFlightEngine(trainer.model, cfg.sgd_lr, cfg.negatives, noise, programs)
    began = time.perf_counter()
    outcome = trainer.train()
    kv = keyed_vectors(data.vocab.idx_to_token[1:], trainer.vectors()[0].numpy()[1:])
    ws, simlex = (word_pairs(kv, *pair).spearman for pair in PAIR_SETS)
    return {
        "ws353": ws,
        "simlex": simlex,
        "mean_loss": float(np.mean(outcome.epoch_losses)),
        "train_s": time.perf_counter() - began,
    }


def largest_kept(rows: dict[int, list[dict[str, Any]]]) -> int | None:
    """The largest P up to which every P keeps WS353 and SimLex at the bar on every seed (None: not even P = 1)."""
    kept = None
    for programs in sorted(rows):
        if not all(r["ws353"] >= WS353_BAR and r["simlex"] >= SIMLEX_BAR for r in rows[programs]):
            break
        kept = programs
    return kept


def default_concurrency(c: float, effective_words: float, negatives: int, sms: int) -> int:
    """The formula of the default: clamp(round(c * (1/Σp²) / (K+1)), 32, 2 * SMs)."""
    return int(min(max(round(c * effective_words / (negatives + 1)), FLOOR), 2 * sms))


def zipf_effective_words(tokens: int, vocab: int) -> float:
    """1/Σp² of the noise distribution of `zipf_corpus(tokens, vocab)`, from its expected counts (rank^-1):
    at 100 M tokens its rarest word is expected about 80 times, so sampled counts differ little."""
    ranks = np.arange(1, vocab + 1, dtype=np.float64)
    expected = tokens / ranks / (1.0 / ranks).sum()
    return NoiseTable(np.concatenate([[0.0], expected])).effective_words


def table(rows: dict[int, list[dict[str, Any]]], seeds: list[int]) -> str:
    head = ["P", *(f"WS353 s{s}" for s in seeds), *(f"SimLex s{s}" for s in seeds), "mean loss", "train s"]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for programs, runs in sorted(rows.items()):
        cells = [str(programs), *(f"{r['ws353']:.3f}" for r in runs), *(f"{r['simlex']:.3f}" for r in runs)]
        cells += [f"{np.mean([r['mean_loss'] for r in runs]):.4f}", f"{np.mean([r['train_s'] for r in runs]):.0f}"]
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def summary(rows: dict[int, list[dict[str, Any]]], ptb_words: float, negatives: int) -> list[str]:
    """The constant c the table implies and the default concurrency it gives an H100 on PTB and the 100 M corpus."""
    kept = largest_kept(rows)
    if kept is None:
        return [f"no P keeps WS353 >= {WS353_BAR} and SimLex >= {SIMLEX_BAR} on every seed: c is undefined"]
    c = kept * (negatives + 1) / ptb_words
    bound = " (a lower bound: the largest P measured kept the bar)" if kept == max(rows) else ""
    scale_words = zipf_effective_words(SCALE_TOKENS, SCALE_VOCAB)
    return [
        f"largest P keeping WS353 >= {WS353_BAR} and SimLex >= {SIMLEX_BAR} on every seed: {kept}",
        f"c = P_max * (K+1) / (1/Σp²) = {kept} * {negatives + 1} / {ptb_words:.1f} = {c:.3f}{bound}",
        f"100 M-token synthetic corpus ({SCALE_VOCAB:,} words, Zipf): 1/Σp² = {scale_words:.1f}",
        f"default concurrency on an H100 ({H100_SMS} SMs): PTB {default_concurrency(c, ptb_words, negatives, H100_SMS)}"
        f", 100 M corpus {default_concurrency(c, scale_words, negatives, H100_SMS)}",
    ]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m core bench --in-flight", description=__doc__)
    parser.add_argument("--programs", nargs="+", type=int, default=list(PROGRAMS), help="centers in flight")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    parser.add_argument("--data-dir", help="folder or file with ptb.zip (default: $W2V_DATA_DIR, then the cache)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    cfg = TrainConfig()
    data = Prepared.build(load_corpus("ptb", data_dir=args.data_dir), cfg.min_freq, torch.device("cpu"))
    ptb_words = NoiseTable(data.vocab.counts).effective_words
    print(f"PTB, {args.epochs} epochs, dim {cfg.embed_size}, window {cfg.max_window}, K {cfg.negatives}, "
          f"subsample {cfg.subsample}, sgd_lr {cfg.sgd_lr}; noise 1/Σp² = {ptb_words:.1f}", flush=True)  # fmt: skip
    rows: dict[int, list[dict[str, Any]]] = {}
    for programs in args.programs:
        rows[programs] = []
        for seed in args.seeds:
            rows[programs].append(result := train(data, programs, seed, args.epochs))
            print(f"P {programs} seed {seed}: {result}", flush=True)
    print()
    print(table(rows, args.seeds))
    print()
    print("\n".join(summary(rows, ptb_words, cfg.negatives)))
    return 0
