"""The GPU check's parts that need no GPU: its scorer against gensim's, the checklist from a partial results
file, a section's hard deadline, `--prepare`, and Triton's atomic add under the interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT

from core.bench import gpu_results
from core.bench.gpu import MIN_START_S, prepare, run_sections
from core.bench.gpu_report import checklist, pick
from core.bench.pair_scores import PAIR_FILES, pair_spearman, read_pairs


def gensim_spearman(words: list[str], vectors: np.ndarray, path: Path) -> float:
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=vectors.shape[1])
    kv.add_vectors(words, vectors)
    return float(kv.evaluate_word_pairs(str(path), case_insensitive=True)[1].statistic)


def toy_words(path: Path) -> list[str]:
    """Two thirds of the file's words, some in another case, one twice (the first spelling must win), plus others."""
    seen = sorted({w for a, b, _ in read_pairs(path) for w in (a, b)})
    words = [w.lower() if i % 3 else w.capitalize() for i, w in enumerate(seen) if i % 3 != 2]
    return [*words, words[0].upper(), "zzz-not-in-any-pair"]


@pytest.mark.parametrize("name", list(PAIR_FILES))
def test_pair_scores_equal_gensims_evaluate_word_pairs(name: str, tmp_path: Path) -> None:
    from gensim.test.utils import datapath

    source = Path(datapath(PAIR_FILES[name]))
    lines = source.read_text(encoding="utf-8").splitlines()
    odd = ["only\ttwo", "bad\tscore\tx", "", "# a comment\tx\t1"]  # lines both must skip
    path = tmp_path / "pairs.txt"
    path.write_text("\n".join([*lines[:40], *odd, *lines[40:]]) + "\n", encoding="utf-8")
    words = toy_words(source)
    vectors = np.random.default_rng(0).normal(size=(len(words), 20)).astype(np.float32)
    vectors[3] = 0.0  # a zero vector: cosine 0 in both
    ours, theirs = pair_spearman(words, vectors, path), gensim_spearman(words, vectors, path)
    assert ours is not None and ours == pytest.approx(theirs, abs=1e-6)
    assert pair_spearman(words[:1], vectors[:1], path) is None


def record(section: str, what: str, **values: object) -> dict[str, object]:
    return {"section": section, "what": what, **values}


def cell(programs: int, lr: float, seed: int, ws: float, rate: float) -> dict[str, object]:
    figures = {
        "tokens_per_s": rate,
        "wordsim353": ws,
        "simlex999": 0.2,
        "chip_top10": ["intel"],
        "engine": "GpuFastEngine",
    }
    return record("grid", "cell", programs=programs, sgd_lr=lr, seed=seed, **figures)


def test_the_pick_is_the_fastest_setting_clearing_both_seeds() -> None:
    cells = [cell(528, 0.075, s, 0.25, 9e7) for s in (0, 1)]  # fastest, fails WS353
    cells += [cell(264, 0.05, 0, 0.33, 6e7), cell(264, 0.05, 1, 0.29, 6e7)]  # one seed fails
    cells += [cell(264, 0.025, 0, 0.34, 7e7)]  # one seed only (the grid was cut)
    cells += [cell(132, 0.05, s, 0.32, 4e7) for s in (0, 1)] + [cell(66, 0.05, s, 0.35, 2e7) for s in (0, 1)]
    chosen = pick(cells)
    assert chosen is not None and (chosen["programs"], chosen["sgd_lr"]) == (132, 0.05)
    assert pick(cells[:4]) is None


def test_the_checklist_says_what_passed_failed_and_did_not_arrive(tmp_path: Path) -> None:
    machine = {"gpu": "NVIDIA H100", "sms": 132, "torch": "2.11", "triton": "3.6", "cuda": "13.0", "host_cores": 16}
    records = [
        record("env", "machine", **machine),
        record("env", "compile", seconds=4.2),
        record("env", "end", status="done", seconds=9.0, deadline_s=45),
        record("exact", "one_program", max_diff=3e-7, loss=1.0, loss_cpu=1.0, scored=2000.0, scored_cpu=2000),
        record("exact", "atomic_sum", programs=8192, low=8192.0, high=8192.0),
        record("exact", "atomic_ratio", programs=8192, ratio=0.71),
        record("exact", "end", status="done", seconds=12.0, deadline_s=35),
        record("speed", "end", status="killed", seconds=25.0, deadline_s=25),
        *[cell(132, 0.05, s, 0.32, 3e7) for s in (0, 1)],
        record("grid", "end", status="killed", seconds=85.0, deadline_s=85),
        record("confirm", "setting", picked=True, programs=132, sgd_lr=0.05),
        *[cell(132, 0.05, s, 0.31, 2.5e7) | {"section": "confirm", "what": "run"} for s in (0, 1, 2)],
        record("confirm", "end", status="done", seconds=20.0, deadline_s=30),
        record("book", "error", error="RuntimeError: CUDA graph capture failed"),
        record("book", "end", status="failed", rc=1, seconds=3.0, deadline_s=40),
    ]
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"section": "scale", "wh', encoding="utf-8")
    lines = checklist(path).splitlines()

    def row(start: str) -> str:
        return next(line for line in lines if start in line)

    assert row("machine").startswith("info") and "NVIDIA H100, 132 SMs" in row("machine")
    assert row("kernel, 1 program").startswith("PASS")
    assert row("adding 1.0 to one row").startswith("PASS")
    assert row("atomic test at lr 1e-6").startswith("FAIL")
    assert row("kernel-only centers/s").startswith("----") and "killed at its 25 s deadline" in row("kernel-only")
    assert row("host's share").startswith("----") and "host: not run" in row("host's share")
    assert row("quality grid").startswith("PASS") and "P=132, sgd_lr 0.05" in row("quality grid")
    assert row("median raw tokens/s").startswith("PASS") and "grid's pick, P=132, GpuFastEngine" in row("median raw")
    assert row("median WS353").startswith("PASS") and row("chip's top 10").startswith("PASS")
    assert row("book mode").startswith("----") and "CUDA graph capture failed" in row("book mode")
    assert row("100 M tokens on the GPU").startswith("----") and "scale: not run" in row("100 M tokens on the GPU")
    cpu = lines.index("CPU reference (optional):")
    assert all(line.startswith("----") for line in lines[cpu + 1 :]) and len(lines) == cpu + 3

    failed_cpu = [record("cpu", "error", error="NumbaError: no"), record("cpu", "end", status="failed", rc=1)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records + failed_cpu), encoding="utf-8")
    again = checklist(path).splitlines()
    assert again[2 : again.index("CPU reference (optional):")] == lines[2:cpu], "the CPU reference changed a GPU row"
    assert (
        again[-2]
        == "----  (optional) fast mode on the CPU, all host cores: did not arrive (cpu failed: NumbaError: no)"
    )


FAKE_SECTION = """
import subprocess, sys, time
from pathlib import Path
from core.bench import gpu_results
name, results = sys.argv[1], Path(sys.argv[2])
if name == "hang":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    gpu_results.append(results, name, "pid", pid=child.pid)
    time.sleep(120)
gpu_results.append(results, name, "figure", value=1)
"""


def alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def test_a_silent_section_is_killed_at_its_deadline_and_the_check_goes_on(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    command = lambda name: [sys.executable, "-c", FAKE_SECTION, name, str(results)]  # noqa: E731
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    began = time.monotonic()
    run_sections([("hang", 3.0), ("quick", 60.0)], results, command, env=env)
    assert time.monotonic() - began < 60
    run_sections([("late", 60.0)], results, command, total_s=MIN_START_S - 1, env=env)
    found = {(r["section"], r["what"]): r for r in gpu_results.read(results)}
    assert found[("hang", "end")]["status"] == "killed" and ("hang", "figure") not in found
    assert not alive(found[("hang", "pid")]["pid"]), "the section's own child outlived its deadline"
    assert found[("quick", "end")]["status"] == "done" and found[("quick", "figure")]["value"] == 1
    assert found[("late", "end")]["status"] == "skipped"


def test_prepare_fills_the_device_folder_that_git_ignores(ptb_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "device-data"
    copied = prepare(folder, str(ptb_dir))
    assert sorted(p.name for p in copied) == sorted(["ptb.zip", *PAIR_FILES.values()])
    assert (folder / "ptb.zip").read_bytes() == (ptb_dir / "ptb.zip").read_bytes()
    assert len(read_pairs(folder / "wordsim353.tsv")) == 353 and len(read_pairs(folder / "simlex999.txt")) == 999
    ignored = subprocess.run(["git", "check-ignore", "-q", "device-data/ptb.zip"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, "device-data/ must be ignored by git"


def test_many_programs_adding_one_to_a_row_sum_exactly_under_the_interpreter() -> None:
    from core.bench.gpu_atomic import programs_add_one

    row = programs_add_one(64, 100, torch.device("cpu"))
    assert row.shape == (100,) and bool((row == 64.0).all())


def test_the_atomic_test_passes_stale_updates_that_all_land_and_fails_lost_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check's atomic test with the numba emulation standing in for the GPU: every update a round stale
    but landing reads 1.0 within the bound; a tenth of the centers' updates lost reads outside it."""
    from core.bench import gpu_kernel_checks
    from core.bench.gpu_adapter import cpu_slice
    from core.bench.gpu_report import ATOMIC_RATIO

    def emulated(share: float):
        def kernel(v, u, problem, k, seed, lrs, programs, span):
            stop = span[0] + int((span[1] - span[0]) * share)
            return torch.tensor(cpu_slice(v.numpy(), u.numpy(), problem, k, seed, lrs, programs, (span[0], stop)))

        return kernel

    ratios = []
    for share in (1.0, 0.9):
        monkeypatch.setattr(gpu_kernel_checks, "gpu_slice", emulated(share))
        ratios.append(gpu_kernel_checks.atomic_ratio(torch.device("cpu"))["ratio"])
    low, high = ATOMIC_RATIO
    assert low <= ratios[0] <= high and not low <= ratios[1] <= high


def test_the_sections_training_glue_runs_on_a_small_corpus_generated_on_the_device(tmp_path: Path) -> None:
    """The helpers the GPU sections train through, on the CPU: the device-generated Zipf corpus, a fast-mode
    run with speed and quality figures, a corpus cut to its first tokens and a book-mode run of batch 1."""
    from gensim.test.utils import datapath

    from core.bench.gpu_sections import Context, _first_tokens, device_zipf, train

    for name in PAIR_FILES.values():
        (tmp_path / name).write_bytes(Path(datapath(name)).read_bytes())
    ctx = Context("smoke", tmp_path / "results.jsonl", tmp_path)
    data = device_zipf(30_000, 300, 0, torch.device("cpu"))
    assert data.raw_tokens == 30_000 and int(data.vocab.counts[1]) > int(data.vocab.counts[300])
    run = train(ctx, data, device="cpu", epochs=2, threads=1)
    assert run["tokens_per_s"] > 0 and run["centers"] > 0 and len(run["epoch_s"]) == 2
    assert {"wordsim353", "simlex999", "chip_top10", "mean_loss"} <= set(run)
    part = _first_tokens(data, 1_000)
    assert 1_000 <= part.raw_tokens <= 1_040
    book = train(ctx, part, scored=False, device="cpu", mode="book", batch_size=1, epochs=1)
    assert book["centers"] > 0 and "diverged" not in book and book["programs"] is None


def test_a_section_that_fails_leaves_its_error_for_the_checklist(tmp_path: Path) -> None:
    """The real `env` section on a machine without CUDA fails; the checklist says so and why."""
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the env section would pass here")
    from core.bench.gpu import section_command

    results = tmp_path / "results.jsonl"
    run_sections(
        [("env", 120.0)], results, section_command(results, tmp_path), env=os.environ | {"PYTHONPATH": str(ROOT)}
    )
    row = next(line for line in checklist(results).splitlines() if "machine" in line)
    assert row.startswith("----  machine: did not arrive (env failed: ") and "CUDA" in row


def test_the_exactness_checks_pass_on_the_kernel_under_the_interpreter() -> None:
    """The check's own calls into the Triton kernel (through the adapter), on CPU tensors: one program equals
    the CPU reference, and the atomic test reads 1.0 for 64 programs."""
    from core.bench.gpu_kernel_checks import atomic_ratio, one_program
    from core.bench.gpu_report import ATOMIC_RATIO, EXACT_MAX_DIFF

    one = one_program(torch.device("cpu"), centers=120, vocab=40)
    assert one["max_diff"] <= EXACT_MAX_DIFF and one["scored"] == one["scored_cpu"] > 0
    assert one["loss"] == pytest.approx(one["loss_cpu"], rel=1e-5)
    low, high = ATOMIC_RATIO
    assert low <= atomic_ratio(torch.device("cpu"), programs=64)["ratio"] <= high
