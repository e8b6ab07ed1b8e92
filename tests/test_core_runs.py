"""Runs on disk: names that cannot escape, statuses, damaged weights refused, the metrics reader, one owner."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT

from core.config import TrainConfig
from core.runs import RESERVED, MetricRow, MetricsReader, Run, RunError, WatchResult, WatchRow, list_runs, sanitize_name
from core.runs import folder as run_folder


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


def test_running_means_the_lock_is_held_whatever_the_pid() -> None:
    run = Run.create(TrainConfig())
    run.set_status("running")  # this process's pid: alive, but it holds no lock
    assert run.status().state == "interrupted"
    with run.lock():
        assert run.is_training() and run.status().state == "running"
    assert not run.is_training() and run.status().state == "interrupted"


@pytest.mark.parametrize("name", sorted(RESERVED))
def test_folders_the_runs_folder_keeps_are_never_runs(name: str, isolated_runs: Path) -> None:
    with pytest.raises(RunError, match="keeps for itself"):
        Run.create(TrainConfig(), name)
    (isolated_runs / name).mkdir(parents=True)
    (isolated_runs / name / "config.json").write_text(TrainConfig().to_json())  # even one that looks like a run
    assert list_runs() == []
    with pytest.raises(RunError, match="no run named"):
        Run.open(name)


def test_names_resolve_in_the_runs_folder_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    decoy = tmp_path / "work" / "myproj"
    decoy.mkdir(parents=True)
    (decoy / "config.json").write_text(TrainConfig().to_json())
    monkeypatch.chdir(decoy.parent)
    with pytest.raises(RunError, match="no run named 'myproj'"):
        Run.open("myproj")
    assert Run.open(str(decoy)).path == decoy  # a path names a run folder wherever it is; a name never does
    run = Run.create(TrainConfig(), "myproj")
    assert Run.open("myproj").path == run.path and Run.open(str(run.path.resolve())).path == run.path
    Run.open("myproj").delete()
    assert decoy.is_dir() and not run.path.exists()


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


def row(i: int, kind: str = "step") -> MetricRow:
    return MetricRow(kind, 1 + i // 1000, i / 200_000, 1.0 / (1 + i % 97), 123456.0, i * 0.18, 36000.0, 1e9 + i)


def test_metrics_survive_a_line_cut_short_and_damaged_rows() -> None:
    run = Run.create(TrainConfig())
    run.append_metric(row(1))
    with open(run.path / "metrics.jsonl", "a") as fh:
        fh.write('{"kind": "step", "loss": "x"}\n[1, 2]\n{"kind": "step", "epoch": 2, "lo')
    assert run.metrics() == [row(1)]
    reader = run.metrics_reader()
    assert reader.poll() == 1 and reader.damaged == 2 and reader.last == row(1)


def test_the_reader_reads_only_what_was_appended(tmp_path: Path) -> None:
    """A poll of a 200 k-row run reads the new rows only: well under 50 ms (the first read is paid once)."""
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(row(i).to_dict()) + "\n" for i in range(200_000)), encoding="utf-8")
    reader = MetricsReader(path)
    reader.poll()
    assert reader.steps == 200_000 and reader.bytes_read == path.stat().st_size
    polls = []
    for n in range(20):
        before = reader.bytes_read
        with open(path, "a", encoding="utf-8") as fh:
            new = "".join(json.dumps(row(200_000 + 10 * n + k).to_dict()) + "\n" for k in range(10))
            fh.write(new)
        began = time.perf_counter()
        assert reader.poll() == 10
        polls.append(time.perf_counter() - began)
        assert reader.bytes_read - before == len(new.encode()), "a poll reads the appended bytes and nothing else"
    assert reader.steps == 200_200 and reader.last == row(200_199)
    assert sorted(polls)[len(polls) // 2] < 0.05, f"median poll {sorted(polls)[10] * 1000:.1f} ms"
    before = reader.bytes_read
    assert reader.poll() == 0 and reader.bytes_read == before  # nothing new: nothing read


def test_the_reader_waits_for_a_line_to_end_and_starts_over_on_a_replaced_file(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    line = json.dumps(row(0).to_dict()) + "\n"
    path.write_text(line + line[:20], encoding="utf-8")
    reader = MetricsReader(path)
    assert reader.poll() == 1
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line[20:])
    assert reader.poll() == 1 and reader.steps == 2
    watch = WatchRow([WatchResult("chip", [("intel", 0.5)], [])], 1.0)
    path.write_text(json.dumps(watch.to_dict()) + "\n", encoding="utf-8")  # as a resume's truncation does
    assert reader.poll() == 1 and reader.steps == 0 and reader.watch == watch


def test_no_module_outside_the_runs_package_spells_a_run_file_name() -> None:
    names = [getattr(run_folder, n) for n in ("CONFIG", "STATUS", "METRICS", "CHECKPOINT", "VECTORS", "EVALUATION")]
    names += [getattr(run_folder, n) for n in ("LOCK", "STOP", "LOG", "WATCH", "VOCAB")]
    sources = [ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *(ROOT / "core").rglob("*.py")]
    offenders = []
    for path in sources:
        if path.is_relative_to(ROOT / "core" / "runs"):
            continue
        text = path.read_text(encoding="utf-8")
        for name in names:
            # a token store keeps its own vocab.json (core/data/store.py): a store's file, not a run's
            if name == run_folder.VOCAB and path.name == "store.py":
                continue
            if re.search(rf"(?<![\w.]){re.escape(name)}\b", text):
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert not offenders, "only core/runs/ knows a run's file names: " + ", ".join(offenders)


def test_no_temporary_files_left_after_writes() -> None:
    run = Run.create(TrainConfig())
    run.save_checkpoint({"center": torch.zeros(2, 2), "context": torch.zeros(2, 2)}, {"epoch_losses": [1.0]})
    assert sorted(os.listdir(run.path)) == ["checkpoint.safetensors", "config.json", "status.json"]


def test_a_damaged_status_is_reported_as_such() -> None:
    run = Run.create(TrainConfig())
    (run.path / "status.json").write_text('{"state": "running", "pid": "x"}')
    with pytest.raises(RunError, match=r"is damaged: status\.json: its process id"):
        run.status()
    (run.path / "status.json").write_text('{"state": "dancing"}')
    with pytest.raises(RunError, match=r"damaged: status\.json: its state .dancing. is not one of"):
        run.status()


def test_each_epochs_checkpoint_counts_the_epochs_in_the_status_while_the_run_trains(tiny_corpus: Path) -> None:
    """Home reads a running run's epochs from its status: each checkpoint updates them, keeping the message."""
    from core.job import _checkpointer
    from core.runs import Run

    run = Run.create(TrainConfig(corpus=str(tiny_corpus), epochs=3), name="counting")
    run.set_status("running", "training on the tensor engine")
    save = _checkpointer(run)
    save(1, {"v": torch.zeros(2, 2), "u": torch.zeros(2, 2)}, [0.61], 1.5)
    save(2, {"v": torch.zeros(2, 2), "u": torch.zeros(2, 2)}, [0.61, 0.52], 3.0)
    status = run.saved_status()
    assert (status.state, status.message) == ("running", "training on the tensor engine")
    assert (status.epochs_done, status.mean_loss) == (2, 0.52)
