"""What every benchmark process reports about itself: its peak memory and the quality of its vectors."""

from __future__ import annotations

import resource
import time
from typing import Any

import numpy as np

PROBE = "chip"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def quality(words: list[str], vectors: np.ndarray) -> dict[str, Any]:
    """Scores and chip's neighbours, and the seconds they took with their imports (the bench leaves
    them out of a process's time, since every system is scored by the same code)."""
    began = time.perf_counter()
    from core.explore.evaluate import keyed_vectors, score

    kv = keyed_vectors(words, vectors)
    figures = score(kv).to_dict()
    figures["chip_top5"] = [w for w, _ in kv.most_similar(PROBE, topn=5)] if PROBE in kv else []
    figures["chip_top10"] = [w for w, _ in kv.most_similar(PROBE, topn=10)] if PROBE in kv else []
    figures["scoring_s"] = time.perf_counter() - began
    return figures
