"""One benchmark measurement, run in its own process so peak memory belongs to one system alone.

`python -m core.bench_systems SYSTEM SEED DEVICE EPOCHS [DATA_DIR]` prints one JSON object.
Systems: `fast` and `book` (ours), `gensim` (its Cython word2vec), `scale:N` (N synthetic Zipf tokens).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import Any

import numpy as np
import torch

from core.config import TrainConfig
from core.data import load_corpus
from core.device import resolve_device
from core.evaluate import keyed_vectors, score
from core.sampling import epoch_generator, keep_probabilities, sample_epoch
from core.train import Prepared, Trainer
from core.vocab import Vocab

PROBE = "chip"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def quality(words: list[str], vectors: np.ndarray) -> dict[str, Any]:
    kv = keyed_vectors(words, vectors)
    figures = score(kv).to_dict()
    figures["chip_top5"] = [w for w, _ in kv.most_similar(PROBE, topn=5)] if PROBE in kv else []
    figures["chip_top10"] = [w for w, _ in kv.most_similar(PROBE, topn=10)] if PROBE in kv else []
    return figures


def run_ours(mode: str, seed: int, device: str, epochs: int, data_dir: str | None) -> dict[str, Any]:
    cfg = TrainConfig(mode=mode, seed=seed, device=device, epochs=epochs)
    began = time.perf_counter()
    data = Prepared.build(load_corpus("ptb", data_dir=data_dir), cfg.min_freq, resolve_device(device))
    keep = keep_probabilities(data.vocab.counts, cfg.subsample).to(data.ids.device)
    sample_epoch(data.ids, data.sentence, keep, cfg.max_window, epoch_generator(seed, 0, data.ids.device))
    prepare_s = time.perf_counter() - began
    trainer = Trainer(cfg, data)
    outcome = trainer.train()
    vectors = trainer.model.embed_v.weight.detach().cpu().numpy()
    return {
        "prepare_s": prepare_s,
        "train_s": outcome.train_seconds,
        "raw_tokens": data.raw_tokens * epochs,
        "centers": outcome.centers,
        "final_loss": outcome.epoch_losses[-1],
        "mean_loss": float(np.mean(outcome.epoch_losses)),
        "device": torch.cuda.get_device_name() if data.ids.is_cuda else "cpu",
        **quality(data.vocab.idx_to_token[1:], vectors[1:]),
    }


def run_gensim(seed: int, epochs: int, data_dir: str | None) -> dict[str, Any]:
    from gensim.models import Word2Vec

    sentences = load_corpus("ptb", data_dir=data_dir)
    began = time.perf_counter()
    model = Word2Vec(
        sg=1, negative=5, window=5, vector_size=100, sample=1e-4, min_count=10, workers=os.cpu_count(), seed=seed
    )
    model.build_vocab(sentences)
    prepare_s = time.perf_counter() - began
    began = time.perf_counter()
    effective, raw = model.train(sentences, total_examples=model.corpus_count, epochs=epochs)
    train_s = time.perf_counter() - began
    words = model.wv.index_to_key
    return {
        "prepare_s": prepare_s,
        "train_s": train_s,
        "raw_tokens": raw,
        "centers": effective,
        "final_loss": None,
        "mean_loss": None,
        "device": "cpu",
        **quality(words, model.wv.vectors),
    }


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
    sentence = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)[:tokens]
    counts = np.bincount(ids, minlength=vocab_size + 1)
    vocab = Vocab(["<unk>"] + [f"w{i}" for i in range(1, vocab_size + 1)], counts.tolist())
    return Prepared(vocab, torch.from_numpy(ids).to(device), torch.from_numpy(sentence).to(device), tokens)


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
    if system == "gensim":
        result = run_gensim(seed, epochs, data_dir)
    elif system.startswith("scale:"):
        result = run_scale(int(system.split(":")[1]), seed, device)
    else:
        result = run_ours(system, seed, device, epochs, data_dir)
    result["peak_mb"] = peak_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
