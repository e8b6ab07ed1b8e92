"""One benchmark measurement, run in its own process so peak memory belongs to one system alone.

`python -m core.bench.systems SYSTEM SEED DEVICE EPOCHS [DATA_DIR]` prints one JSON object.
Systems: `fast` and `book` (ours; under torchrun, data-parallel; gensim runs in core.bench.gensim),
`scale:N` (N synthetic Zipf tokens in memory), `stream-build:N` and `stream-train:SECONDS` (a text
file of N Zipf tokens in DATA_DIR tokenised into a store, then trained from it; core.bench.stream).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from core import distributed
from core.bench.scoring import peak_mb, quality
from core.bench.stream import run_stream
from core.config import TrainConfig
from core.data.corpora import load_corpus
from core.data.prepared import Prepared
from core.data.vocab import Vocab
from core.device import resolve_device
from core.runs.records import MetricRow
from core.trainer import Trainer


def run_ours(mode: str, seed: int, device: str, epochs: int, data_dir: str | None) -> dict[str, Any]:
    """Our mode on PTB; under torchrun every rank trains its shard and rank 0 reports for the group."""
    world = distributed.start()
    cfg = TrainConfig(mode=mode, seed=seed, device=device, epochs=epochs)
    began = time.perf_counter()
    on = distributed.local_device(resolve_device(device), world)
    data = Prepared.build(load_corpus("ptb", data_dir=data_dir), cfg.min_freq, on)
    prepare_s = time.perf_counter() - began
    ends: list[float] = []
    trainer = Trainer(cfg, data, callbacks=[epoch_clock(ends)], world=world)
    outcome = trainer.train()
    vectors = trainer.vectors()[0].cpu().numpy()
    return {
        **epoch_figures(ends, data.raw_tokens),
        "prepare_s": prepare_s,
        "train_s": group_max(outcome.train_seconds, world),
        "raw_tokens": data.raw_tokens * epochs,
        "centers": group_sum(outcome.centers, world),
        "final_loss": outcome.epoch_losses[-1],
        "mean_loss": float(np.mean(outcome.epoch_losses)),
        "device": torch.cuda.get_device_name() if on.type == "cuda" else "cpu",
        "processes": world.size,
        "sync_s": group_max(trainer.replicas.comm_s, world) if trainer.replicas else 0.0,
        "steps": group_max(float(outcome.steps), world),
        **(quality(data.vocab.idx_to_token[1:], vectors[1:]) if world.is_main else {}),
    }


def epoch_clock(ends: list[float]) -> Callable[[MetricRow], None]:
    """A training callback that appends the elapsed seconds at each epoch's end to `ends`."""
    return lambda row: ends.append(row.elapsed_s) if row.kind == "epoch" else None


def epoch_figures(ends: list[float], raw_tokens_per_epoch: int) -> dict[str, Any]:
    """The first epoch apart (it includes compiling a GPU kernel, capturing a graph), the steady ones' speed."""
    times = np.diff([0.0, *ends]).tolist()
    steady = sum(times[1:])
    rate = raw_tokens_per_epoch * (len(times) - 1) / steady if steady > 0 else None
    return {"epoch_s": times, "first_epoch_s": times[0] if times else None, "steady_tokens_per_s": rate}


def group_max(value: float, world: distributed.World) -> float:
    """The largest `value` over the ranks (the slowest rank's time, the largest peak memory)."""
    if world.size == 1:
        return value
    box = torch.tensor([value], dtype=torch.float64)
    torch.distributed.all_reduce(box, op=torch.distributed.ReduceOp.MAX)
    return float(box)


def group_sum(value: int, world: distributed.World) -> int:
    if world.size == 1:
        return value
    box = torch.tensor([value], dtype=torch.int64)
    torch.distributed.all_reduce(box)
    return int(box)


def zipf_corpus(tokens: int, vocab_size: int, seed: int, device: torch.device) -> Prepared:
    """Token ids drawn from a Zipf law (rank^-1) in sentences of 5-40 tokens, without any Python objects per token."""
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(1.0 / np.arange(1, vocab_size + 1))
    cdf /= cdf[-1]
    ids = np.empty(tokens, dtype=np.int32)
    for start in range(0, tokens, 1 << 22):  # in blocks, so temporaries stay small
        block = ids[start : start + (1 << 22)]
        block[:] = np.searchsorted(cdf, rng.random(len(block)), side="right") + 1
    ids = np.minimum(ids, vocab_size, out=ids)
    lengths = rng.integers(5, 41, size=tokens // 5)
    lengths = lengths[: np.searchsorted(np.cumsum(lengths), tokens) + 1]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    offsets[-1] = tokens
    counts = np.bincount(ids, minlength=vocab_size + 1)
    vocab = Vocab(["<unk>"] + [f"w{i}" for i in range(1, vocab_size + 1)], counts.tolist())
    return Prepared(vocab, offsets, lambda start, stop: ids[start:stop], device)


def run_scale(tokens: int, seed: int, device: str) -> dict[str, Any]:
    began = time.perf_counter()
    data = zipf_corpus(tokens, 100_000, seed, resolve_device(device))
    prepare_s = time.perf_counter() - began
    memory_after_data = peak_mb()
    trainer = Trainer(TrainConfig(corpus="synthetic", epochs=1, seed=seed, device=device, min_freq=1), data)
    rates: list[float] = []
    trainer.callbacks.append(lambda e: rates.append(e.tokens_per_s))
    outcome = trainer.train()
    return {
        "prepare_s": prepare_s,
        "train_s": outcome.train_seconds,
        "raw_tokens": tokens,
        "centers": outcome.centers,
        "final_loss": outcome.epoch_losses[-1],
        "mean_loss": outcome.epoch_losses[-1],
        "device": device,
        "peak_mb_after_data": memory_after_data,
        "rate_quartiles": np.percentile(rates, [25, 50, 75]).tolist() if rates else [],
    }


def main(argv: list[str]) -> None:
    system, seed, device, epochs = argv[0], int(argv[1]), argv[2], int(argv[3])
    data_dir = argv[4] if len(argv) > 4 else None
    if system.startswith("scale:"):
        result = run_scale(int(system.split(":")[1]), seed, device)
    elif system.startswith("stream-"):
        result = run_stream(system, seed, device, data_dir)
    else:
        result = run_ours(system, seed, device, epochs, data_dir)
    world = distributed.current()
    result["peak_mb"] = group_max(peak_mb(), world)
    if world.is_main:
        print(json.dumps(result))
    distributed.finish()


if __name__ == "__main__":
    main(sys.argv[1:])
    if distributed.launched_by_torchrun():
        distributed.exit_skipping_teardown(0)
