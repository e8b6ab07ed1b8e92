"""`python -m core bench --chapter`: how long each section of the Inside the model page takes on PTB.

Each section is what the page asks `core.explore.chapter` for, with the default settings and random
weights of the run's shape (the times do not depend on what the weights hold).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.config import TrainConfig
from core.data.corpora import DATA_DIR_ENV, read_ptb
from core.data.sampling import NoiseTable
from core.data.vocab import Vocab
from core.explore import chapter
from core.explore.vectors import Embeddings


@dataclass
class Sections:
    """Each section's result and its seconds, in the page's order."""

    seconds: dict[str, float] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)

    def time(self, name: str, call: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        self.results[name] = call()
        self.seconds[name] = time.perf_counter() - start
        return self.results[name]


def run_sections(data_dir: str | None = None, word: str = "chip") -> Sections:
    """Every section once; `data_dir` holds ptb.zip (the page reads the corpus as training does: $W2V_DATA_DIR)."""
    if data_dir:
        os.environ[DATA_DIR_ENV] = data_dir
    config = TrainConfig()
    vocab = Vocab.build(read_ptb(data_dir), config.min_freq)
    s = Sections()
    corpus = s.time("corpus", lambda: chapter.read_corpus(config, vocab))
    noise = s.time("noise table", lambda: NoiseTable(vocab.counts))
    sub = s.time("subsampling", lambda: chapter.subsample(corpus, vocab, config, seed=0))
    s.time("count of a word", lambda: chapter.word_count(vocab, "the", config.subsample, sub.counts_after))
    example = s.time("window", lambda: chapter.window(corpus, vocab, 1, 5, config.max_window, seed=0))
    contexts = [example.tokens[i] for i in example.contexts]
    s.time("noise distribution", lambda: chapter.noise_rows(vocab, noise, 20))
    s.time("noise words", lambda: chapter.noise_words(vocab, noise, contexts, config.negatives, seed=0))
    batch = s.time("minibatch", lambda: chapter.minibatch(sub, noise, config.negatives, config.batch_size, seed=0))
    center = np.random.default_rng(0).normal(size=(len(vocab), config.embed_size)).astype(np.float32)
    trained = s.time("forward, trained", lambda: chapter.forward(chapter.trained_model(center, center), batch))
    fresh_model = chapter.fresh_model(len(vocab), config.embed_size, config.seed)
    fresh = s.time("forward, fresh", lambda: chapter.forward(fresh_model, batch))
    s.time("loss example", lambda: chapter.masked_loss(chapter.BOOK_PRED, chapter.BOOK_LABEL, chapter.BOOK_MASK))
    s.time("batch loss", lambda: [chapter.batch_loss(r, batch) for r in (trained, fresh)])
    embeddings = Embeddings(vocab.idx_to_token, center, center, vocab.counts)
    s.time("similar tokens", lambda: chapter.similar_tokens(embeddings, word, 3))
    return s


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m core bench --chapter")
    parser.add_argument("--data-dir", help="folder or file with ptb.zip (default: $W2V_DATA_DIR, then the cache)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    runs = [run_sections(args.data_dir) for _ in range(args.repeats)]
    print(f"{'section (PTB, default settings)':34} {'fastest ms':>10} {'slowest ms':>10}")
    for name in runs[0].seconds:
        times = [1000 * run.seconds[name] for run in runs]
        print(f"{name:34} {min(times):10.1f} {max(times):10.1f}")
    return 0
