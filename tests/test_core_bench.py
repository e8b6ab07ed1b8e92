"""The benchmark tool: it runs end to end on small sizes and names its rows by system and process count."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import ROOT

from core import bench
from core.bench import load as bench_load
from core.bench import side_by_side
from core.bench import systems as bench_systems
from core.config import TrainConfig


def test_scale_and_stream_checks_run_end_to_end(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    command = [sys.executable, "-m", "core", "bench", "--systems", "--scale", "200000", "--stream", "200000"]
    command += ["--stream-seconds", "1", "--stream-dir", str(tmp_path / "data"), "--json", str(report_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "stream: " in done.stdout and "scale: 200,000" in done.stdout
    report = json.loads(report_path.read_text())
    assert report["stream"]["build"]["tokens"] == 200_000
    assert report["stream"]["train"]["trained_tokens"] > 0
    assert report["scale"]["raw_tokens"] == 200_000


def fake_run(tokens_per_s: float) -> dict[str, Any]:
    return {"prepare_s": 0.1, "train_s": 1.0, "raw_tokens": tokens_per_s, "centers": 10, "peak_mb": 1, "device": "cpu"}


def test_rows_per_process_count_and_speed_ratio(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []

    def measure(system: str, seed: int, args: object, processes: int = 1, folder: object = None) -> dict[str, Any]:
        calls.append((system, processes))
        return fake_run({"fast": 3e6, "gensim:0.025": 1.5e6, "gensim:0.075": 1e6}[system] / processes)

    monkeypatch.setattr(side_by_side, "measure", measure)
    args = side_by_side.parse(["--systems", "fast", "gensim", "--processes", "1", "2", "--seeds", "0", "1"])
    rows = side_by_side.summarise(side_by_side.measure_all(args))
    assert not [call for call in calls if call[0].startswith("gensim") and call[1] != 1], "no data-parallel gensim"
    assert list(rows) == ["fast", "fast 2proc", "gensim alpha=0.025", "gensim alpha=0.075"]
    assert rows["fast"]["x_gensim"] == pytest.approx(2.0), "speed is a ratio to gensim at its default rate"
    assert rows["fast 2proc"]["x_gensim"] == pytest.approx(1.0)
    assert "fast 2proc" in side_by_side.table(rows)


def test_gensim_runs_at_its_default_rate_and_at_ours() -> None:
    """Quality is compared like with like: gensim's row at our fast mode's starting rate beside its default."""
    rates = {float(alpha) for alpha in side_by_side.GENSIM_ROWS.values()}
    assert rates == {0.025, TrainConfig().sgd_lr}
    args = side_by_side.parse(["--epochs", "3"])
    commands: list[list[str]] = []
    done = subprocess.CompletedProcess([], 0, stdout='{"train_s": 1.0}\n')
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(side_by_side.subprocess, "run", lambda command, **kw: commands.append(command) or done)
        side_by_side.measure("gensim:0.075", 4, args)
        side_by_side.measure("gensim", 4, args)
    assert commands[0][-4:] == ["core.bench.gensim", "4", "3", "0.075"]
    assert commands[1][-1] == "0.025"


def test_gpu_rows_stand_beside_our_cpu_kernel_and_the_first_epoch_is_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str | None]] = []

    def measure(system: str, seed: int, args: object, processes: int = 1, device: str | None = None) -> dict[str, Any]:
        calls.append((system, device))
        return fake_run(1e6) | bench_systems.epoch_figures([3.0, 3.5, 4.0], 1_000_000)

    monkeypatch.setattr(side_by_side, "measure", measure)
    rows = side_by_side.summarise(
        side_by_side.measure_all(side_by_side.parse(["--systems", "fast", "gensim", "--device", "cuda"]))
    )
    assert list(rows) == ["fast", *side_by_side.GENSIM_ROWS, "fast cpu"] and ("fast", "cpu") in calls
    assert rows["fast"]["first_epoch_s"] == pytest.approx(3.0)
    assert rows["fast"]["steady_tokens_per_s"] == pytest.approx(2_000_000)
    assert "1st epoch s" in side_by_side.table(rows)


def test_gpu_check_without_a_gpu_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the check itself runs there (README, 'GPU training')")
    assert bench.main(["--gpu-check"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_busy_processes_spin_while_measuring_and_end_when_it_fails() -> None:
    with pytest.raises(RuntimeError, match="a measurement failed"), bench_load.busy(2) as pids:
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
        raise RuntimeError("a measurement failed")
    assert not any(alive(pid) for pid in pids)


def test_busy_processes_end_when_the_bench_is_killed() -> None:
    code = "import time\nfrom core.bench.load import busy\n"
    code += "with busy(1) as pids:\n print(pids[0], flush=True)\n time.sleep(60)"
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child), "the busy process outlived a bench killed with SIGKILL"
