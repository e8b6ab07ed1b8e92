"""Integration on the Penn Treebank: the book's loss and neighbours from the default command."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.cli import main
from core.explore.vectors import Embeddings
from core.runs import Run

pytestmark = pytest.mark.ptb


def test_default_mode_reaches_the_books_loss_and_chip_neighbours(ptb_dir: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["train", "--corpus", "ptb", "--epochs", "5", "--device", "cpu", "--data-dir", str(ptb_dir)]
    assert main([*args, "--name", "ptb"]) == 0
    status = Run.open("ptb").status()
    assert status.state == "finished" and status.epochs_done == 5
    assert status.mean_loss <= 0.43
    top = [w for w, _ in Embeddings.from_run(Run.open("ptb")).neighbors("chip", k=10)]
    assert {"microprocessor", "mips", "intel"} & set(top), top


def test_book_mode_first_epoch_loss(ptb_dir: Path) -> None:
    args = ["train", "--corpus", "ptb", "--epochs", "1", "--mode", "book", "--data-dir", str(ptb_dir)]
    assert main([*args, "--name", "book"]) == 0
    loss = Run.open("book").status().mean_loss
    assert 0.46 <= loss <= 0.52  # the book's first epoch: about 0.48
