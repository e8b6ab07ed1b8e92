"""`python -m core bench --gpu-check`: every figure issue 11 asks of a GPU, from one command.

The GPU figures come from one child process (`python -m core.bench.gpu DATA_DIR`) that loads PTB
once and prints one JSON line per figure as soon as it has it, so a timeout keeps what finished:
kernel checks on the device (compiled kernel against the CPU kernel, concurrent updates all
landing, graph replay against the eager step), PTB in the fast mode over three seeds, at several
concurrency levels and batch sizes, the book mode, and one epoch of 100 M synthetic tokens. Then
our CPU kernel and gensim (if installed) run on all host cores, each in its own process, and a
checklist compares everything with the issue's thresholds. Budget: under 6 minutes on an H200.
Nothing here installs anything; without gensim the quality columns say "not measured".
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

SEEDS = (0, 1, 2)
IN_FLIGHT_LEVELS = (1, 8, 32)  # programs per multiprocessor tried beside the default
BATCH_SIZES = (1, 512, 65_536, 1_000_000)
SCALE_TOKENS = 100_000_000
CHIP_NEIGHBOURS = {"microprocessor", "mips", "intel"}
CHILD_TIMEOUT_S = 300


def _emit(figure: str, **values: Any) -> None:
    print(json.dumps({"figure": figure, **values}, default=float), flush=True)


def kernel_checks(device: torch.device) -> dict[str, float]:
    """The compiled kernel against the CPU kernel; many programs on one row; graph replay against eager."""
    from core.engines.kernel_numba import sgd_centers as cpu_kernel
    from core.engines.kernel_triton import sgd_centers

    gen = torch.Generator().manual_seed(0)
    vocab, n = 200, 64
    v, u = torch.randn(vocab, 100, generator=gen) * 0.1, torch.randn(vocab, 100, generator=gen) * 0.1
    centers = torch.randint(1, vocab, (n,), generator=gen)
    contexts = torch.randint(1, vocab, (n, 10), generator=gen)
    contexts[torch.rand(n, 10, generator=gen) < 0.4] = -1
    perms = [torch.randperm(vocab - 1, generator=gen) + 1 for _ in range(n)]
    noise = torch.stack([p[p != c][:5] for p, c in zip(perms, centers, strict=True)])
    gv, gu = v.to(device), u.to(device)
    began = time.perf_counter()  # the first launch compiles (the cache is empty): PTB's shapes, so timed apart
    sgd_centers(gv, gu, *(t.to(device) for t in (centers, contexts, noise)), 0.05, 0.01, 1)
    torch.cuda.synchronize(device)
    compile_s = time.perf_counter() - began
    cpu_kernel(*(t.numpy() for t in (v, u, centers, contexts, noise)), 0.05, 0.01)
    exact = max(float((gv.cpu() - v).abs().max()), float((gu.cpu() - u).abs().max()))
    checks = {"kernel_vs_cpu_max_diff": exact, "atomic_ratio": _atomic_ratio(device)}
    return {"triton_compile_s": compile_s, **checks, **_graph_vs_eager(device)}


def _atomic_ratio(device: torch.device, copies: int = 8192) -> float:
    """How far `copies` concurrent programs on one center move its output row, over `copies` x one program.

    Tiny steps from u = 0, so every update is nearly the same: 1.0 when all land, far below when lost.
    """
    from core.engines.kernel_triton import sgd_centers

    center, noise = torch.tensor([3]), torch.tensor([[20, 21, 22, 23, 24]])
    contexts = torch.tensor([[5, 6, 7, 8, -1, -1, 9, 10, 11, 12]])
    moved = []
    for k in (1, copies):
        v, u = torch.full((32, 100), 0.01, device=device), torch.zeros(32, 100, device=device)
        repeated = (center.repeat(k), contexts.repeat(k, 1), noise.repeat(k, 1))
        sgd_centers(v, u, *(t.to(device) for t in repeated), 1e-4, 1e-4, k)
        moved.append(float(u[3].sum()))
    return moved[1] / (copies * moved[0])


def _graph_vs_eager(device: torch.device) -> dict[str, float]:
    """The same staged batches through the captured graph and through the eager body."""
    from core.data.sampling import NoiseTable
    from core.engines.book_cuda import GraphBookEngine
    from core.model import SkipGram

    gen = torch.Generator().manual_seed(1)
    rows = 512 * 9 + 100
    batch = (
        torch.randint(0, 1000, (rows,), generator=gen),
        torch.randint(0, 1000, (rows, 60), generator=gen),
        (torch.rand(rows, 60, generator=gen) < 0.7).float(),
        (torch.arange(60) < 10).float().expand(rows, 60).contiguous(),
    )
    tables, losses = [], []
    for capture in (True, False):
        torch.manual_seed(0)
        model = SkipGram(1000, 100).to(device)
        engine = GraphBookEngine(model, 0.002, 5, NoiseTable(np.ones(1000)).to(device), 512, capture=capture)
        losses.append(sum(float(engine.apply(*(t.to(device) for t in batch))) for _ in range(2)))
        tables.append(model.embed_v.weight.detach().cpu())
    return {
        "graph_vs_eager_max_diff": float((tables[0] - tables[1]).abs().max()),
        "graph_loss": losses[0],
        "eager_loss": losses[1],
    }


def quality(words: list[str], vectors: np.ndarray) -> dict[str, Any]:
    """WS353 and SimLex (None without gensim, which holds the data sets) and chip's ten nearest words."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    chip = words.index("chip") if "chip" in words else None
    top = [] if chip is None else [words[i] for i in np.argsort(-(unit @ unit[chip]))[1:11]]
    figures: dict[str, Any] = {"wordsim353": None, "simlex999": None, "chip_top10": top}
    if importlib.util.find_spec("gensim") is not None:
        from core.explore.evaluate import PAIR_SETS, keyed_vectors, word_pairs

        kv = keyed_vectors(words, vectors)
        figures["wordsim353"], figures["simlex999"] = (word_pairs(kv, *pair).spearman for pair in PAIR_SETS)
    return figures


def train_ptb(data: Any, in_flight: int = 0, **settings: Any) -> dict[str, Any]:
    """One PTB training on the GPU with the default settings changed by `settings`; speed and quality."""
    from core.bench.systems import epoch_clock, epoch_figures
    from core.config import TrainConfig
    from core.trainer import Trainer

    cfg = TrainConfig(device="cuda", **settings)
    ends: list[float] = []
    trainer = Trainer(cfg, data, callbacks=[epoch_clock(ends)])
    if in_flight:
        trainer.engine.in_flight = in_flight
    outcome = trainer.train()
    figures = epoch_figures(ends, data.raw_tokens)
    steady_centers = outcome.centers * (cfg.epochs - 1) / cfg.epochs / max(sum(figures["epoch_s"][1:]), 1e-9)
    vectors = trainer.vectors()[0].cpu().numpy()
    return {
        **figures,
        "steady_centers_per_s": steady_centers,
        "mean_loss": float(np.mean(outcome.epoch_losses)),
        "in_flight": getattr(trainer.engine, "in_flight", None),
        **quality(data.vocab.idx_to_token[1:], vectors[1:]),
    }


def _emit_run(figure: str, data: Any, labels: dict[str, Any], **settings: Any) -> None:
    """One PTB training's figures, or the reason it failed (a diverged run is a result, not the check's end)."""
    from core.trainer import TrainingError

    try:
        _emit(figure, **labels, **train_ptb(data, **settings))
    except TrainingError as exc:
        _emit(figure, **labels, error=str(exc))


def scale_run(device: torch.device) -> dict[str, Any]:
    from core.bench.systems import zipf_corpus
    from core.config import TrainConfig
    from core.trainer import Trainer

    data = zipf_corpus(SCALE_TOKENS, 100_000, 0, device)
    torch.cuda.reset_peak_memory_stats(device)
    trainer = Trainer(TrainConfig(corpus="synthetic", epochs=1, device="cuda", min_freq=1), data)
    outcome = trainer.train()
    return {
        "tokens_per_s": SCALE_TOKENS / outcome.train_seconds,
        "train_s": outcome.train_seconds,
        "peak_gpu_mb": torch.cuda.max_memory_allocated(device) / 2**20,
    }


def child(data_dir: str) -> None:
    """All GPU figures, in order of importance, each printed as soon as it is known."""
    import triton

    from core.data.corpora import load_corpus
    from core.data.prepared import Prepared
    from core.engines.fast_triton import IN_FLIGHT_PER_SM

    device = torch.device("cuda")
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    _emit("machine", gpu=torch.cuda.get_device_name(), sms=sms, torch=torch.__version__, triton=triton.__version__)
    _emit("kernel", **kernel_checks(device))
    data = Prepared.build(load_corpus("ptb", data_dir=data_dir), 10, device)
    for seed in SEEDS:
        _emit_run("ptb_fast", data, {"seed": seed, "per_sm": IN_FLIGHT_PER_SM}, seed=seed)
    _emit_run("ptb_book", data, {}, mode="book")
    for batch_size in BATCH_SIZES:
        _emit_run("batch_size", data, {"batch_size": batch_size}, batch_size=batch_size)
    for per_sm in IN_FLIGHT_LEVELS:
        _emit_run("in_flight", data, {"per_sm": per_sm}, in_flight=per_sm * sms)
    del data
    _emit("scale", **scale_run(device))


def run_child(data_dir: str) -> list[dict[str, Any]]:
    """The GPU figures from a fresh process with an empty Triton cache, so the first epoch's compile is real."""
    env = os.environ | {"TRITON_CACHE_DIR": tempfile.mkdtemp(prefix="w2v-triton-")}
    command = [sys.executable, "-m", "core.bench.gpu", data_dir]
    figures = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as proc:
        began = time.perf_counter()
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("{"):
                figures.append(json.loads(line))
                print(f"[{time.perf_counter() - began:5.0f} s] {_brief(figures[-1])}", flush=True)
            if time.perf_counter() - began > CHILD_TIMEOUT_S:
                proc.kill()
                print(f"GPU figures stopped after {CHILD_TIMEOUT_S} s", flush=True)
                break
    return figures


def _brief(figure: dict[str, Any]) -> str:
    shown = {k: v for k, v in figure.items() if k not in ("figure", "epoch_s")}
    return figure["figure"] + ": " + ", ".join(f"{k}={_fmt(v)}" for k, v in shown.items())


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, list):
        return "[" + " ".join(_fmt(v) for v in value) + "]"
    return str(value)


def host_rows(args: argparse.Namespace, data_dir: str) -> dict[str, dict[str, Any]]:
    """Our CPU kernel and gensim on all host cores (one seed each: they are the reference, not the subject)."""
    from core.bench.side_by_side import GENSIM_ROWS, measure

    host = argparse.Namespace(**{**vars(args), "device": "cpu", "data_dir": data_dir})
    rows = {"fast, CPU, all cores": measure("fast", 0, host)}
    if importlib.util.find_spec("gensim") is not None:
        for name, rate in GENSIM_ROWS.items():
            rows[f"{name}, all cores"] = measure(f"gensim:{rate:g}", 0, host)
    else:
        print("gensim is not installed here: carry its wheel (README, 'GPU training') for its rows", flush=True)
    return rows


def checklist(figures: list[dict[str, Any]]) -> list[str]:
    """Each of the issue's 'Must show' lines against what was measured."""
    by = {}
    for f in figures:
        by.setdefault(f["figure"], []).append(f)
    fast, book, sizes, scale = by.get("ptb_fast", []), by.get("ptb_book", []), by.get("batch_size", []), by.get("scale")
    kernel = (by.get("kernel") or [{}])[0]
    rate = _median(fast, "steady_tokens_per_s")
    ws, sl = _median(fast, "wordsim353"), _median(fast, "simlex999")
    chip = bool(fast) and all(CHIP_NEIGHBOURS & set(f.get("chip_top10", [])) for f in fast)
    spread = [f["wordsim353"] for f in sizes if f.get("wordsim353") is not None]
    finished = [f for f in sizes if "error" not in f]
    lines = [
        _check("kernel equals the CPU kernel (max diff <= 1e-4)", kernel.get("kernel_vs_cpu_max_diff"), 1e-4, low=True),
        _check("concurrent updates of one row all land (ratio >= 0.98)", kernel.get("atomic_ratio"), 0.98),
        _check(
            "graph replay equals the eager step (max diff <= 1e-5)",
            kernel.get("graph_vs_eager_max_diff"),
            1e-5,
            low=True,
        ),
        _check("PTB fast, steady raw tokens/s >= 20 M (median of 3)", rate, 20e6),
        _check("PTB fast, WS353 >= 0.30", ws, 0.30),
        _check("PTB fast, SimLex >= 0.17", sl, 0.17),
        f"{'PASS' if chip else 'FAIL'}  chip's top 10 holds microprocessor, mips or intel (every seed)",
        _check("book, steady centers/s >= 1 M", _median(book, "steady_centers_per_s"), 1e6),
        _check("book, mean loss over 5 epochs <= 0.43", _median(book, "mean_loss"), 0.43, low=True),
        _check("batch sizes 1..1,000,000 all finish", len(finished), len(BATCH_SIZES)),
        _check("batch sizes' WS353 within 0.02", max(spread) - min(spread) if spread else None, 0.02, low=True),
        _check("100 M tokens, raw tokens/s >= 50 M", scale[0]["tokens_per_s"] if scale else None, 50e6),
    ]
    if kernel.get("triton_compile_s") is not None:
        lines.append(f"info  Triton compile of the kernel, empty cache: {kernel['triton_compile_s']:.1f} s")
    if scale:
        lines.append(f"info  100 M tokens: peak GPU memory {scale[0]['peak_gpu_mb']:,.0f} MB")
    return lines


def _median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def _check(what: str, value: float | None, bound: float, low: bool = False) -> str:
    if value is None:
        return f"----  {what}: not measured"
    ok = value <= bound if low else value >= bound
    return f"{'PASS' if ok else 'FAIL'}  {what}: {_fmt(float(value))}"


def issue_table(figures: list[dict[str, Any]], host: dict[str, dict[str, Any]]) -> str:
    """The issue's table: ours on the GPU (median over seeds), then the host's references."""
    fast = [f for f in figures if f["figure"] == "ptb_fast"]
    book = [f for f in figures if f["figure"] == "ptb_book"]
    lines = ["system | raw tokens/s (steady) | first epoch s | WS353 | SimLex", "-|-|-|-|-"]
    for name, rows in (("fast, GPU", fast), ("book, GPU", book)):
        if rows:
            cells = [_median(rows, k) for k in ("steady_tokens_per_s", "first_epoch_s", "wordsim353", "simlex999")]
            lines.append(f"{name} | " + " | ".join("-" if c is None else _fmt(float(c)) for c in cells))
    for name, row in host.items():
        cells = [row.get("steady_tokens_per_s") or row["raw_tokens"] / row["train_s"], row.get("first_epoch_s")]
        cells += [row.get("wordsim353"), row.get("simlex999")]
        lines.append(f"{name} | " + " | ".join("-" if c is None else _fmt(float(c)) for c in cells))
    return "\n".join(lines)


def data_folder(args: argparse.Namespace) -> str:
    """--data-dir, else $W2V_DATA_DIR, else the repository's carried folder `devicecarry/`."""
    return args.data_dir or os.environ.get("W2V_DATA_DIR") or str(Path("devicecarry").resolve())


def gpu_check(args: argparse.Namespace) -> int:
    if not torch.cuda.is_available():
        print("--gpu-check needs a CUDA GPU, and PyTorch sees none here", file=sys.stderr)
        return 2
    began = time.perf_counter()
    data_dir = data_folder(args)
    figures = run_child(data_dir)
    host = host_rows(args, data_dir)
    print(
        f"\nGPU check, {time.strftime('%Y-%m-%d %H:%M')}, {torch.cuda.get_device_name()}, {os.cpu_count()} host cores"
    )
    print(issue_table(figures, host))
    print("\n" + "\n".join(checklist(figures)))
    print(f"\ncheck took {time.perf_counter() - began:.0f} s")
    target = args.json or Path("bench-results") / f"gpu-check-{time.strftime('%Y%m%d-%H%M%S')}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"figures": figures, "host": host}, indent=2, default=str), encoding="utf-8")
    print(f"results written to {target}")
    return 0


if __name__ == "__main__":
    child(sys.argv[1])
