"""Word-vector quality with gensim's own scoring code and evaluation sets, so every system is scored alike."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Scores:
    wordsim353: float
    wordsim353_pairs: int
    simlex999: float
    simlex999_pairs: int
    analogy: float
    analogy_questions: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def keyed_vectors(words: list[str], vectors: np.ndarray):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=vectors.shape[1])
    kv.add_vectors(words, vectors.astype(np.float32))
    return kv


def score(kv) -> Scores:
    """WordSim353 / SimLex999 Spearman on covered pairs and Google-analogy accuracy (3CosAdd)."""
    from gensim.test.utils import datapath

    logging.getLogger("gensim").setLevel(logging.WARNING)
    ws, ws_n = _pairs(kv, datapath("wordsim353.tsv"))
    sl, sl_n = _pairs(kv, datapath("simlex999.txt"))
    acc, sections = kv.evaluate_word_analogies(datapath("questions-words.txt"), case_insensitive=True)
    total = next(s for s in sections if s["section"] == "Total accuracy")
    asked = len(total["correct"]) + len(total["incorrect"])
    return Scores(ws, ws_n, sl, sl_n, float(acc), asked)


def _pairs(kv, path: str) -> tuple[float, int]:
    _, spearman, oov = kv.evaluate_word_pairs(path, case_insensitive=True)
    with open(path, encoding="utf-8") as fh:
        total = sum(1 for line in fh if line.strip() and not line.startswith("#"))
    covered = round(total * (100 - oov) / 100)
    return float(spearman.statistic), covered
