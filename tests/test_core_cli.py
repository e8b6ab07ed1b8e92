"""The command line end to end on a small corpus, and its error messages."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, synthetic_text
from gensim.models import KeyedVectors

from core.cli import main
from core.explore.vectors import Embeddings
from core.runs import Run, list_runs


def train(corpus: Path, *extra: str) -> Run:
    args = ["train", "--corpus", str(corpus), "--min-freq", "2", "--epochs", "2", "--embed-size", "12", *extra]
    assert main([*args, "--name", "cli"]) == 0
    return Run.open("cli")


def test_train_neighbors_export(tiny_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = train(tiny_corpus, "--threads", "1")
    out = capsys.readouterr().out
    assert "mean loss over 2 epochs" in out and "raw corpus tokens per second" in out and str(run.path) in out
    assert main(["neighbors", run.name, "cat1", "-k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(len(line.split("\t")) == 2 for line in lines)
    float(lines[0].split("\t")[1])
    target = tmp_path / "vectors.txt"
    assert main(["export", run.name, str(target)]) == 0
    kv = KeyedVectors.load_word2vec_format(str(target))
    emb = Embeddings.from_run(run)
    np.testing.assert_array_equal(kv["cat1"], emb.center[emb.lookup("cat1")])
    assert len(kv) == len(emb.words) - 1


def test_errors_are_one_line_messages(tiny_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--corpus", str(tiny_corpus), "--epochs", "0"]) == 2
    assert "epochs" in capsys.readouterr().err
    assert main(["train", "--corpus", str(tmp_path / "missing.txt")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "empty.txt").write_bytes(b"")
    assert main(["train", "--corpus", str(tmp_path / "empty.txt")]) == 2
    assert "empty" in capsys.readouterr().err
    assert not list_runs()  # refused before a run folder was made
    run = train(tiny_corpus)
    assert main(["neighbors", run.name, "caat1"]) == 2
    assert "closest: cat1" in capsys.readouterr().err


def test_train_resume_continues_a_stopped_run(tiny_corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = train(tiny_corpus)
    run.set_status("stopped")
    assert main(["train", "--resume", run.name]) == 0
    assert "mean loss over 2 epochs" in capsys.readouterr().out


def test_evaluate_and_export_on_the_command_line(
    tiny_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = train(tiny_corpus)
    assert main(["evaluate", run.name]) == 0
    out = capsys.readouterr().out
    assert "WordSim353  Spearman     n/a  (0/353 pairs covered)" in out  # synthetic words: nothing covered
    assert "Total accuracy" in out and (run.path / "evaluation.json").is_file()
    assert main(["export", run.name, str(tmp_path / "v.bin"), "--format", "word2vec-binary"]) == 0
    assert "(word2vec-binary)" in capsys.readouterr().out
    kv = KeyedVectors.load_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    assert main(["export", run.name, str(tmp_path / "proj"), "--format", "projector", "--table", "sum"]) == 0
    emb = Embeddings.from_run(run)
    summed = np.loadtxt(tmp_path / "proj" / "vectors.tsv", delimiter="\t", dtype=np.float32)
    np.testing.assert_array_equal(summed, emb.table("sum")[1:])
    assert len(kv) == len(summed) == len(emb.words) - 1
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    assert main(["evaluate", str(tmp_path / "empty.txt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is empty" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit):
        main(["export", run.name, str(tmp_path / "x"), "--format", "csv"])


def test_two_resumes_at_the_same_moment_one_trains_the_other_is_refused(tmp_path: Path) -> None:
    corpus = tmp_path / "longer.txt"
    corpus.write_text(synthetic_text(4000), encoding="utf-8")  # 1000 epochs of it outlast the test
    run = train(corpus)
    run.set_status("stopped")
    command = [sys.executable, "-m", "core", "train", "--resume", run.name, "--epochs", "1000"]
    processes = [
        subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    try:
        refused = None
        while refused is None:  # the loser leaves at once; the winner trains until asked to stop
            time.sleep(0.05)
            refused = next((p for p in processes if p.poll() is not None), None)
        run.request_stop()
        winner = next(p for p in processes if p is not refused)
        assert winner.wait(120) == 0, winner.stderr.read().decode()[-2000:]
    finally:
        for process in processes:
            process.kill()
            process.wait()
    assert refused.returncode == 2
    message = refused.stderr.read().decode()
    assert f"error: run {run.name} is being trained by process {winner.pid}" in message
    epochs = [row.epoch for row in run.metrics() if row.kind == "epoch"]
    assert epochs == list(range(1, len(epochs) + 1)), "one writer: epochs in order, none twice"
    assert run.status().state == "stopped"
