"""WordSim353 and SimLex999 scored with numpy and scipy alone, for machines without gensim (the GPU check).

It follows gensim's `KeyedVectors.evaluate_word_pairs` as our evaluation calls it (case-insensitive,
the first 300,000 words, pairs with an unknown word left out): a line is skipped if it is empty, a
`#` comment or not three tab-separated fields with a number last; a word's vector is that of its
first spelling in vocabulary order; a pair's similarity is the cosine in float32 (0 for a zero
vector); the score is scipy's Spearman correlation. The test suite checks it against gensim.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

from core.explore.vectors import Embeddings

RESTRICT_VOCAB = 300_000  # gensim's default, as core.explore.evaluate uses it
PAIR_FILES = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}
PROBE, PROBE_TOP = "chip", 10


def read_pairs(path: Path) -> list[tuple[str, str, float]]:
    """The (word, word, human score) lines of a pair file, upper-cased, as gensim parses them."""
    pairs = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            fields = line.split("\t")
            if line.startswith("#") or len(fields) != 3:
                continue
            try:
                score = float(fields[2])
            except ValueError:
                continue
            pairs.append((fields[0].upper(), fields[1].upper(), score))
    return pairs


def pair_spearman(words: list[str], vectors: np.ndarray, path: Path) -> float | None:
    """Spearman correlation of cosines with the file's scores on covered pairs; None below two pairs or if undefined."""
    index: dict[str, int] = {}
    for i, word in enumerate(words[:RESTRICT_VOCAB]):
        index.setdefault(word.upper(), i)
    covered = [(index[a], index[b], s) for a, b, s in read_pairs(path) if a in index and b in index]
    if len(covered) < 2:
        return None
    rows = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit = np.where(norms > 0, rows / np.where(norms > 0, norms, 1), rows).astype(np.float32)
    left, right, gold = zip(*covered, strict=True)
    cosines = np.einsum("ij,ij->i", unit[list(left)], unit[list(right)])
    rho = stats.spearmanr(gold, cosines).statistic
    return float(rho) if np.isfinite(rho) else None


def quality(words: list[str], vectors: np.ndarray, folder: Path) -> dict[str, object]:
    """WS353, SimLex (from the pair files in `folder`) and chip's ten nearest words."""
    scores: dict[str, object] = {name: pair_spearman(words, vectors, folder / f) for name, f in PAIR_FILES.items()}
    near = Embeddings(words, vectors).neighbors(PROBE, PROBE_TOP) if PROBE in words else []
    return scores | {"chip_top10": [word for word, _ in near]}
