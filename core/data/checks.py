"""The corpus checks made before a run exists, so a bad file or setting is refused with its reason."""

from __future__ import annotations

from pathlib import Path

from core.config import ConfigError, TrainConfig
from core.data import store
from core.data.corpora import Sentences, load_corpus, ptb_needs_download
from core.data.vocab import Vocab


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
    check_fits(cfg, vocab)
    vocab.check_pairs(sentences)
    return sentences


def check_fits(cfg: TrainConfig, vocab: Vocab) -> None:
    """Refuse settings that ask for more distinct words than the vocabulary holds (`<unk>` not counted)."""
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
