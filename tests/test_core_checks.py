"""What the core checks before a run exists: the corpus, and settings that the corpus cannot satisfy."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, TrainConfig
from core.data import corpora
from core.data.checks import check_corpus
from core.data.corpora import read_text_file, size_text
from core.job import train_run
from core.runs import Run
from core.runs.launcher import Launcher

THREE_WORDS = "red green blue\n" * 30


@pytest.mark.parametrize("field, other", [("negatives", "max_window"), ("max_window", "negatives")])
def test_vocabulary_smaller_than_k_or_the_window_is_refused_before_a_run(
    tmp_path: Path, isolated_runs: Path, launcher: Launcher, field: str, other: str
) -> None:
    corpus = tmp_path / "three.txt"
    corpus.write_text(THREE_WORDS, encoding="utf-8")
    cfg = TrainConfig(corpus=str(corpus), min_freq=1, **{field: 4, other: 2})
    with pytest.raises(ConfigError, match=f"^{field}: 4 .* gives 3; lower {field} or min_freq") as info:
        launcher.start(cfg)
    assert info.value.field == field and not isolated_runs.exists()
    check_corpus(cfg.replace(**{field: 3}))  # three words are enough for 3


def test_a_run_made_without_the_check_fails_with_the_same_message(tmp_path: Path) -> None:
    """The command line creates its run first: the pipeline refuses it and says why in the run's status."""
    corpus = tmp_path / "three.txt"
    corpus.write_text(THREE_WORDS, encoding="utf-8")
    run = Run.create(TrainConfig(corpus=str(corpus), min_freq=1, negatives=5, max_window=2))
    with pytest.raises(ConfigError, match="negatives"):
        train_run(run)
    assert run.status().state == "failed" and "negatives: 5 noise words" in run.status().message


def test_the_check_never_downloads_ptb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an offline copy PTB is fetched by the run, which shows the download's progress."""
    monkeypatch.delenv(corpora.DATA_DIR_ENV, raising=False)

    def no_network(*args: object) -> None:
        raise AssertionError("the check downloaded PTB")

    monkeypatch.setattr(corpora, "download", no_network)
    assert corpora.ptb_needs_download()
    check_corpus(TrainConfig())


def test_windows_line_endings_read_like_unix_ones(tmp_path: Path) -> None:
    unix, windows = tmp_path / "unix.txt", tmp_path / "windows.txt"
    unix.write_bytes(b"a b c\nd e\n")
    windows.write_bytes(b"a b c\r\nd e\r\n")
    assert read_text_file(windows) == read_text_file(unix) == [["a", "b", "c"], ["d", "e"]]


NUMERIC = ("min_freq", "max_window", "negatives", "embed_size", "epochs", "batch_size", "threads", "seed")
NUMERIC += ("log_every", "sync_every", "subsample", "lr", "sgd_lr")


@pytest.mark.parametrize("field", NUMERIC)
@pytest.mark.parametrize("value", ["ten", None, [5], "1e400"])
def test_non_numeric_settings_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({field: value})
    assert info.value.field == field and str(info.value).startswith(f"{field}: ")


def test_sizes_in_messages_read_naturally() -> None:
    assert [size_text(n) for n in (900, 1_000_000, 2 * 1024**3)] == ["900 bytes", "977 KB", "2 GB"]
