"""gensim's measurement for the benchmark, in a process that imports only what gensim's users do.

`python -m core.bench.gensim SEED EPOCHS ALPHA [DATA_DIR]` prints one JSON object. Its settings are the
book's and ours: skip-gram, 5 noise words, window 5, 100 dimensions, subsampling 1e-4, minimum
count 10, one worker per core; ALPHA is the starting learning rate (gensim's default is 0.025, our
fast mode's `sgd_lr` 0.075), which decays linearly as ours does.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from core.bench.scoring import peak_mb, quality
from core.data.corpora import load_corpus


def run_gensim(seed: int, epochs: int, alpha: float, data_dir: str | None) -> dict[str, Any]:
    from gensim.models import Word2Vec

    sentences = load_corpus("ptb", data_dir=data_dir)
    began = time.perf_counter()
    model = Word2Vec(
        sg=1,
        negative=5,
        window=5,
        vector_size=100,
        sample=1e-4,
        min_count=10,
        workers=os.cpu_count(),
        seed=seed,
        alpha=alpha,
    )
    model.build_vocab(sentences)
    prepare_s = time.perf_counter() - began
    began = time.perf_counter()
    effective, raw = model.train(sentences, total_examples=model.corpus_count, epochs=epochs)
    train_s = time.perf_counter() - began
    return {
        "prepare_s": prepare_s,
        "train_s": train_s,
        "raw_tokens": raw,
        "centers": effective,
        "final_loss": None,
        "mean_loss": None,
        "device": "cpu",
        "alpha": alpha,
        **quality(model.wv.index_to_key, model.wv.vectors),
    }


if __name__ == "__main__":
    seed, epochs, alpha = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    result = run_gensim(seed, epochs, alpha, sys.argv[4] if len(sys.argv) > 4 else None)
    print(json.dumps(result | {"peak_mb": peak_mb()}))
