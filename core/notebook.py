"""Word2vec from a notebook: `from core import train; vectors = train("lee", epochs=1)`.

A run trained here is the command line's run: the same corpus check, run folder (config, metrics,
checkpoints, weights) and `core.job` training, with the command line's tqdm bar, so it appears on the
app's Home page beside the others. What comes back is the run's `Embeddings` (most_similar,
similarity, `vectors[word]`, to_gensim).
"""

from __future__ import annotations

import threading
from pathlib import Path

from core.cli import new_run, train_with_bars
from core.config import SCHEMA, ConfigError, TrainConfig
from core.explore.vectors import Embeddings, close_words
from core.runs import Run

__all__ = ["load", "train"]


def train(
    corpus: str | Path = "ptb",
    *,
    name: str | None = None,
    run_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    **settings: object,
) -> Embeddings:
    """Train a new run on `corpus` (ptb, lee or a text file's path) and return its vectors.

    `settings` are those of `core.config.SCHEMA` by name (`epochs=5`, `embed_size=50`, `mode="book"`),
    checked by the schema; an unknown name is refused with the names closest to it. `name`, `run_dir` and
    `data_dir` mean what `--name`, `--run-dir` and `--data-dir` mean to `python -m core train`. An
    interrupt (the notebook's stop button) leaves the run stopped, resumable from the app or the command line.
    """
    run, sentences = new_run(config(corpus, settings), name, run_dir, data_dir)
    train_with_bars(run, threading.Event(), data_dir=data_dir, sentences=sentences)
    return Embeddings.from_run(run)


def load(run: str | Path, run_dir: str | Path | None = None) -> Embeddings:
    """The vectors of an existing run: its name under the runs folder, or its folder's path (as `train` gives)."""
    return Embeddings.from_run(Run.open(run, run_dir))


def config(corpus: str | Path, settings: dict[str, object]) -> TrainConfig:
    """The run's settings, refused as the schema refuses them; an unknown name gets the closest known ones."""
    for given in settings:
        if given not in SCHEMA:
            close = close_words(list(SCHEMA), given, n=3)
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            raise ConfigError(given, f"unknown setting; {hint}the settings are {', '.join(SCHEMA)}")
    return TrainConfig.from_dict({"corpus": str(corpus), **settings})
