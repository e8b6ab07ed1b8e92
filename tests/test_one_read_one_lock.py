"""One training process reads its run's config.json once and takes the run's lock once, for a new run and a resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

# Runs `python -m core train ARGV` with open(), os.open() and the run lock counted; the counts go to COUNTS.
WRAPPER = """
import builtins, io, json, os, sys
from pathlib import Path
counts = {"config_opens": 0, "locks": 0}
def counting(real):
    def counted(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and Path(file).name == "config.json":
            counts["config_opens"] += 1
        return real(file, *args, **kwargs)
    return counted
builtins.open = io.open = counting(io.open)
os.open = counting(os.open)  # the safe opener of core.files
from core.runs import lock
real_hold = lock.hold
def counted_hold(path):
    counts["locks"] += 1
    return real_hold(path)
lock.hold = counted_hold
from core.cli import main
code = main(sys.argv[1:])
Path(os.environ["COUNTS"]).write_text(json.dumps(counts))
sys.exit(code)
"""


def counted_train(tmp_path: Path, *argv: str) -> dict[str, int]:
    counts = tmp_path / "counts.json"
    env = {**os.environ, "COUNTS": str(counts), "W2V_RUNS_DIR": str(tmp_path / "runs")}
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, "train", *argv, "--threads", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(counts.read_text())


def test_a_new_run_and_its_resume_read_the_config_once_and_lock_once(tmp_path: Path) -> None:
    corpus = tmp_path / "small.txt"
    words = [f"w{i}" for i in range(30)]
    corpus.write_text("\n".join(" ".join(words[(i + j) % 30] for j in range(20)) for i in range(100)) + "\n")
    new = counted_train(tmp_path, "--corpus", str(corpus), "--epochs", "1", "--min-freq", "1", "--name", "small")
    assert new == {"config_opens": 1, "locks": 1}
    resumed = counted_train(tmp_path, "--resume", "small", "--epochs", "2")
    assert resumed == {"config_opens": 1, "locks": 1}
    status = json.loads((tmp_path / "runs" / "small" / "status.json").read_text())
    assert status["state"] == "finished" and status["epochs_done"] == 2
