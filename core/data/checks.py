"""The corpus checks made before a run exists, so a bad file or setting is refused with its reason."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from core.config import ConfigError, TrainConfig
from core.data import store
from core.data.corpora import Sentences, load_corpus, ptb_needs_download, size_text
from core.data.vocab import Vocab
from core.device import DeviceError, available_memory, resolve_device


def check_corpus(cfg: TrainConfig, data_dir: str | Path | None = None) -> Sentences | None:
    """Load the corpus and build its vocabulary once, so a bad file or setting is refused before a run exists.

    Raises the corpus's own error (`CorpusError`, `VocabError`) or a `ConfigError` from `check_fits`.
    Returns the sentences read, which `train_run` can take instead of reading them again. A PTB that
    would have to be downloaded, and text files large enough for a store, are left to the run itself,
    which shows their progress (None).
    """
    if (cfg.corpus == "ptb" and ptb_needs_download(data_dir)) or store.wants_store(cfg.corpus):
        return None
    sentences = load_corpus(cfg.corpus, cfg.lowercase, data_dir)
    vocab = Vocab.build(sentences, cfg.min_freq)
    check_fits(cfg, vocab, _host(cfg))
    vocab.check_pairs(sentences)
    return sentences


def _host(cfg: TrainConfig) -> torch.device | None:
    """The CPU when the run trains on it; None for a GPU, measured by the training process alone (measuring
    it here would open a CUDA context in the app) or for a device this machine lacks (refused later)."""
    try:
        device = resolve_device(cfg.device)
    except DeviceError:
        return None
    return device if device.type == "cpu" else None


def check_fits(cfg: TrainConfig, vocab: Vocab, device: torch.device | None = None) -> None:
    """Refuse settings that ask for more distinct words than the vocabulary holds (`<unk>` not counted),
    or, on `device`, a model larger than its free memory."""
    if device is not None:
        check_memory(cfg, len(vocab), device)
    words = len(vocab) - 1
    for name, wanted, what in (
        ("negatives", cfg.negatives, "noise words per context word"),
        ("max_window", cfg.max_window, "context words on each side"),
    ):
        if words < wanted:
            raise ConfigError(
                name,
                f"{wanted} {what} need a vocabulary of at least {wanted} words, but this corpus with "
                f"min_freq={cfg.min_freq} gives {words}; lower {name} or min_freq, or give a larger corpus",
            )


def model_bytes(cfg: TrainConfig, words: int) -> int:
    """Memory the model takes while it trains: two float32 tables of words x embed_size; the book mode adds
    Adam's two moments of each table and their gradients (eight tables in all)."""
    tables = 8 if cfg.mode == "book" else 2
    return tables * words * cfg.embed_size * 4


def check_memory(cfg: TrainConfig, words: int, device: torch.device) -> None:
    """Refuse a model that the device's free memory cannot hold (each process on a machine holds one)."""
    need = model_bytes(cfg, words) * (int(os.environ.get("LOCAL_WORLD_SIZE", "1")) if device.type == "cpu" else 1)
    free = available_memory(device)
    if free is not None and need > free:
        raise ConfigError("embed_size", too_big(cfg, words, device, free))


def too_big(cfg: TrainConfig, words: int, device: torch.device, free: int | None = None) -> str:
    """One line for a model the device cannot hold, saying what to lower."""
    extra = " with Adam's state and gradients" if cfg.mode == "book" else ""
    room = f"only {size_text(free)} is free" if free is not None else "it could not be allocated"
    return (
        f"{words:,} words at embed_size={cfg.embed_size} need about {size_text(model_bytes(cfg, words))} of "
        f"{device.type} memory in the {cfg.mode} mode{extra}, but {room}; lower embed_size or raise min_freq"
        + (", or train in the fast mode" if cfg.mode == "book" else "")
    )
