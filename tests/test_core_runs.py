"""Runs on disk: names that cannot escape, statuses, damaged weights refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from core.config import TrainConfig
from core.runs import Run, RunError, list_runs, sanitize_name


@pytest.mark.parametrize("name", ["../../etc/passwd", "/abs/path", "a\x00b", "..", "x/../../y", "ok name!"])
def test_run_names_stay_inside_the_runs_folder(name: str, isolated_runs: Path) -> None:
    try:
        run = Run.create(TrainConfig(), name)
    except RunError:
        return
    assert run.path.resolve().parent == isolated_runs.resolve()
    assert "/" not in run.name and "\x00" not in run.name and not run.name.startswith(".")


def test_sanitize_rejects_names_with_nothing_usable() -> None:
    with pytest.raises(RunError):
        sanitize_name("../..")
    assert sanitize_name("my run: v2") == "my-run-v2"


def test_create_list_open_delete() -> None:
    first = Run.create(TrainConfig(epochs=2), "exp")
    second = Run.create(TrainConfig(epochs=3), "exp")
    assert second.name == "exp-1"
    assert {r.name for r in list_runs()} == {"exp", "exp-1"}
    assert Run.open("exp-1").config().epochs == 3
    first.delete()
    assert [r.name for r in list_runs()] == ["exp-1"]
    with pytest.raises(RunError, match="no run"):
        Run.open("exp")


def test_running_run_of_a_dead_process_reads_as_interrupted() -> None:
    run = Run.create(TrainConfig())
    run.set_status("running")
    assert run.status()["state"] == "running"
    record = json.loads((run.path / "status.json").read_text())
    record["pid"] = 2**22 + 12345  # no such process
    (run.path / "status.json").write_text(json.dumps(record))
    assert run.status()["state"] == "interrupted"


def test_truncated_or_altered_weights_are_refused() -> None:
    run = Run.create(TrainConfig())
    run.save_vectors(torch.ones(4, 3), torch.zeros(4, 3))
    center, _ = run.load_vectors()
    assert center.sum() == 12
    path = run.path / "vectors.safetensors"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 7])
    with pytest.raises(RunError, match="damaged or truncated"):
        run.load_vectors()
    path.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))
    with pytest.raises(RunError, match="checksum"):
        run.load_vectors()


def test_metrics_survive_a_line_cut_short() -> None:
    run = Run.create(TrainConfig())
    row = {"kind": "epoch", "epoch": 1, "fraction": 0.5, "loss": 0.5, "tokens_per_s": 9.0, "elapsed_s": 1.0}
    run.append_metric(row)
    with open(run.path / "metrics.jsonl", "a") as fh:
        fh.write('{"epoch": 2, "lo')
    assert run.metrics() == [row]


def test_no_temporary_files_left_after_writes() -> None:
    run = Run.create(TrainConfig())
    run.save_checkpoint({"center": torch.zeros(2, 2), "context": torch.zeros(2, 2)}, {"epoch_losses": [1.0]})
    assert sorted(os.listdir(run.path)) == ["checkpoint.safetensors", "config.json", "status.json"]
