"""`python -m core bench --gpu-check`: issue 23's GPU figures and checklist from one command, under 6 minutes.

Each section of `core.bench.gpu_sections.PLAN` runs in its own process group with a hard deadline:
when it passes, the group is killed whether or not it printed anything, and the check goes on
with the next section. Sections write their figures to the results file (one synced JSON line
each) as they arrive; the checklist (`core.bench.gpu_report`) is printed from whatever is there.
All sections share one fresh Triton cache, so the first launch compiles and the later ones do not.

The GPU machine has no gensim and no network, and `../shared` does not travel: `--prepare`, run
here, copies `ptb.zip` and gensim's WordSim353 / SimLex999 files into `device-data/` (ignored by
git), which the device run carries. Nothing here installs anything.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from core.bench import gpu_results
from core.bench.gpu_report import checklist
from core.bench.pair_scores import PAIR_FILES

DEVICE_DATA = Path("device-data")
TOTAL_S = 340.0  # all sections together; the parent's own start and the checklist stay well under 6 minutes
MIN_START_S = 5.0  # a section is not started with less left than this


def prepare(folder: Path, data_dir: str | None) -> list[Path]:
    """Fill `folder` with `ptb.zip` (--data-dir, $W2V_DATA_DIR, the cache) and gensim's two pair files."""
    from gensim.test.utils import datapath

    from core.data.corpora import ptb_zip

    folder.mkdir(parents=True, exist_ok=True)
    sources = [ptb_zip(data_dir), *(Path(datapath(name)) for name in PAIR_FILES.values())]
    copied = [folder / source.name for source in sources]
    for source, target in zip(sources, copied, strict=True):
        shutil.copyfile(source, target)
    return copied


def run_sections(
    plan: Sequence[tuple[str, float]],
    results: Path,
    command: Callable[[str], list[str]],
    total_s: float = TOTAL_S,
    env: dict[str, str] | None = None,
) -> None:
    """Run each section's command in order, each killed at min(its deadline, time left of `total_s`).

    The end of each section (done, failed, killed or skipped, and its seconds) is appended to `results`.
    """
    began = time.monotonic()
    for name, deadline in plan:
        left = total_s - (time.monotonic() - began)
        if left < MIN_START_S:
            gpu_results.append(results, name, "end", status="skipped", seconds=0.0, deadline_s=0.0)
            continue
        limit = min(deadline, left)
        started = time.monotonic()
        status, rc = _run_one(command(name), limit, env)
        seconds = time.monotonic() - started
        gpu_results.append(results, name, "end", status=status, rc=rc, seconds=seconds, deadline_s=limit)


def _run_one(command: list[str], limit: float, env: dict[str, str] | None) -> tuple[str, int | None]:
    """Run `command` in its own process group; kill the whole group at `limit` seconds (or if we are stopped)."""
    proc = subprocess.Popen(command, start_new_session=True, env=env)
    try:
        rc = proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return "killed", None
    except BaseException:
        _kill_group(proc)
        raise
    return ("done" if rc == 0 else "failed"), rc


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the section's process group (it and any process it started), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def section_command(results: Path, data_dir: Path) -> Callable[[str], list[str]]:
    return lambda name: [sys.executable, "-m", "core.bench.gpu_sections", name, str(results), str(data_dir)]


def gpu_check(args: argparse.Namespace) -> int:
    if args.report:
        print(checklist(args.report))
        return 0
    if args.prepare:
        for path in prepare(DEVICE_DATA, args.data_dir):
            print(f"copied {path}")
        print(f"now carry {DEVICE_DATA}/ to the GPU machine (README, 'GPU training')")
        return 0
    if not torch.cuda.is_available():
        print("--gpu-check needs a CUDA GPU, and PyTorch sees none here", file=sys.stderr)
        return 2
    data_dir = Path(args.data_dir or DEVICE_DATA).resolve()
    missing = [name for name in ("ptb.zip", *PAIR_FILES.values()) if not (data_dir / name).is_file()]
    if missing:
        print(f"{data_dir} lacks {', '.join(missing)}: run --gpu-check --prepare where gensim is", file=sys.stderr)
        return 2
    results = args.json or Path("bench-results") / f"gpu-check-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    results.parent.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    env = os.environ | {"TRITON_CACHE_DIR": tempfile.mkdtemp(prefix="w2v-triton-"), "PYTHONUNBUFFERED": "1"}
    from core.bench.gpu_sections import PLAN

    run_sections(PLAN, results, section_command(results, data_dir), env=env)
    print("\n" + checklist(results))
    print(f"\ncheck took {time.perf_counter() - began:.0f} s; results in {results}")
    return 0
