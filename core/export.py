"""Writing vectors in the word2vec text format (header `count dim`, then `word v1 ... vd`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.atomic import write_atomic
from core.vocab import UNK


def write_word2vec_text(path: Path, words: list[str], vectors: np.ndarray) -> int:
    """Write every word but `<unk>`, with 9 significant digits so float32 values read back exactly."""
    keep = [i for i, w in enumerate(words) if w != UNK]
    bad = [words[i] for i in keep if not words[i] or any(c.isspace() for c in words[i])]
    if bad:
        raise ValueError(f"word {bad[0]!r} contains white space and cannot be written in word2vec format")

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(f"{len(keep)} {vectors.shape[1]}\n")
            for i in keep:
                fh.write(words[i] + " " + " ".join(f"{x:.9g}" for x in vectors[i].tolist()) + "\n")

    write_atomic(Path(path), write)
    return len(keep)
