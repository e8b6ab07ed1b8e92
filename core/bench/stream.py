"""The streaming scale check: a generated Zipf text file, tokenised into a store, then trained from it.

Three measurements, each in its own process (see core.bench.systems) so each peak memory is its own:
`stream-text:N` writes N tokens of text, `stream-build:N` tokenises it into a store (one pass,
bounded memory), `stream-train:N:SECONDS` trains from the store for SECONDS of its first epoch.
Words are five letters, drawn from a Zipf law (rank^-1) over VOCAB_SIZE words, in sentences of
5-40 words: realistic word frequencies, and text written by array operations at disk speed.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from core.config import TrainConfig
from core.data import store
from core.data.prepared import Prepared
from core.device import resolve_device
from core.runs.records import MetricRow
from core.trainer import Trainer

VOCAB_SIZE = 200_000
LETTERS = 5
BLOCK_TOKENS = 1 << 22


def text_path(folder: Path, tokens: int, seed: int) -> Path:
    return folder / f"zipf-{tokens}-seed{seed}.txt"


def store_path(folder: Path, tokens: int, seed: int) -> Path:
    return folder / f"zipf-{tokens}-seed{seed}.store"


def word_table(words: int) -> np.ndarray:
    """Row i: the letters of word i (base 26) followed by a space."""
    powers = 26 ** np.arange(LETTERS - 1, -1, -1)
    table = np.empty((words, LETTERS + 1), dtype=np.uint8)
    table[:, :LETTERS] = ord("a") + np.arange(words)[:, None] // powers % 26
    table[:, LETTERS] = ord(" ")
    return table


def write_zipf_text(path: Path, tokens: int, seed: int) -> None:
    """`tokens` Zipf-distributed words, one sentence per line, written block by block and atomically."""
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(1.0 / np.arange(1, VOCAB_SIZE + 1))
    cdf /= cdf[-1]
    table = word_table(VOCAB_SIZE)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as out, tqdm(total=tokens, desc="writing Zipf text", unit="tok", unit_scale=True) as bar:
        for start in range(0, tokens, BLOCK_TOKENS):
            n = min(BLOCK_TOKENS, tokens - start)
            text = table[np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), VOCAB_SIZE - 1)]
            ends = np.cumsum(rng.integers(5, 41, size=n // 5 + 1)) - 1
            text[ends[ends < n], LETTERS] = ord("\n")
            text[-1, LETTERS] = ord("\n")  # a block ends a sentence
            out.write(text.tobytes())
            bar.update(n)
    os.replace(partial, path)


def run_stream(system: str, seed: int, device: str, folder: str | None) -> dict[str, Any]:
    kind, tokens, *rest = system.split(":")
    where = Path(folder or ".")
    where.mkdir(parents=True, exist_ok=True)
    if kind == "stream-text":
        return _text(where, int(tokens), seed)
    if kind == "stream-build":
        return _build(where, int(tokens), seed)
    return _train(where, int(tokens), seed, device, float(rest[0]))


def _text(folder: Path, tokens: int, seed: int) -> dict[str, Any]:
    path = text_path(folder, tokens, seed)
    began = time.perf_counter()
    if not path.exists():
        write_zipf_text(path, tokens, seed)
    return {"seconds": time.perf_counter() - began, "bytes": path.stat().st_size, "path": str(path)}


def _build(folder: Path, tokens: int, seed: int) -> dict[str, Any]:
    source = text_path(folder, tokens, seed)
    bar = tqdm(total=source.stat().st_size, desc="tokenising", unit="B", unit_scale=True)
    began = time.perf_counter()
    built = store.build_store(source, store_path(folder, tokens, seed), False, lambda done, _: bar.update(done - bar.n))
    seconds = time.perf_counter() - began
    bar.close()
    return {
        "seconds": seconds,
        "tokens": built.n_tokens,
        "words": len(built.tokens) - 1,
        "tokens_per_s": built.n_tokens / seconds,
        "store_bytes": sum(f.stat().st_size for f in built.path.iterdir()),
    }


def _train(folder: Path, tokens: int, seed: int, device: str, seconds: float) -> dict[str, Any]:
    """Train from the store until `seconds` have passed (or the epoch ends)."""
    cfg = TrainConfig(corpus=str(text_path(folder, tokens, seed)), epochs=1, seed=seed, device=device)
    data = Prepared.from_store(store.Store.open(store_path(folder, tokens, seed)), cfg.min_freq, resolve_device(device))
    stop = threading.Event()
    reached: list[float] = []

    def watch(row: MetricRow) -> None:
        reached.append(row.fraction)
        if row.elapsed_s >= seconds:
            stop.set()

    outcome = Trainer(cfg, data, [watch], stop).train()
    trained = (reached[-1] if reached else 0.0) * data.raw_tokens
    return {
        "train_s": outcome.train_seconds,
        "trained_tokens": trained,
        "tokens_per_s": trained / outcome.train_seconds,
        "vocab": len(data.vocab),
        "model_mb": 2 * len(data.vocab) * cfg.embed_size * 4 / 2**20,
        "device": device,
    }
