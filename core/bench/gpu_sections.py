"""The GPU check's sections, each run in its own process: `python -m core.bench.gpu_sections NAME RESULTS DATA_DIR`.

A section appends its figures to RESULTS (core.bench.gpu_results) as it measures them, so a
section killed at its deadline keeps what it had. DATA_DIR holds `ptb.zip` and the pair files
(`python -m core bench --gpu-check --prepare` fills it). PLAN lists the sections in the order they
run with each one's deadline in seconds, its budget on one H100 or H200; the CPU reference comes
last and is optional. Under 6 minutes in all (core.bench.gpu caps the sum).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.bench import gpu_results
from core.bench.gpu_adapter import Problem, default_programs, engine_programs, gpu_slice, set_engine_programs
from core.bench.gpu_kernel_checks import DIM, K, atomic_ratio, kernel_rates, one_program, random_problem, tables
from core.bench.gpu_report import pick
from core.bench.pair_scores import quality
from core.bench.systems import epoch_clock, epoch_figures
from core.config import TrainConfig
from core.data.corpora import load_corpus
from core.data.prepared import Prepared
from core.data.sampling import NoiseTable, epoch_generator, keep_probabilities, sample_epoch
from core.data.vocab import Vocab
from core.trainer import Trainer, TrainingError

PROGRAMS = (16, 33, 66, 132, 264, 528)  # centers in flight measured and tried
GRID_LRS = (0.025, 0.05, 0.075)
GRID_SEEDS = (0, 1)
CONFIRM_SEEDS = (0, 1, 2)
EPOCHS = 5
BOOK_BATCHES = (512, 65_536)  # 5 epochs of PTB each
BOOK_FIXED = ((1, 4_000, 1), (1_000_000, None, 3))  # (batch, PTB tokens or all, epochs): a fixed number of steps
SCALE_TOKENS, SCALE_VOCAB = 100_000_000, 100_000


class Context:
    """What a section needs: where its figures go, PTB on the GPU (loaded once, when first asked) and the pair files."""

    def __init__(self, section: str, results: Path, data_dir: Path) -> None:
        self.section, self.results, self.data_dir = section, results, data_dir
        self.began = time.perf_counter()

    def emit(self, what: str, **values: Any) -> dict[str, Any]:
        record = gpu_results.append(self.results, self.section, what, **values)
        shown = ", ".join(f"{k}={_brief(v)}" for k, v in values.items() if k != "epoch_s")
        print(f"[{time.perf_counter() - self.began:5.1f} s] {self.section} {what}: {shown}", flush=True)
        return record

    def earlier(self) -> list[dict[str, Any]]:
        return gpu_results.read(self.results)

    @cached_property
    def ptb(self) -> Prepared:
        return self.ptb_on(torch.device("cuda"))

    def ptb_on(self, device: torch.device) -> Prepared:
        return Prepared.build(load_corpus("ptb", data_dir=str(self.data_dir)), TrainConfig().min_freq, device)


def _brief(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


def train(ctx: Context, data: Prepared, programs: int | None = None, scored: bool = True, **settings: Any) -> dict:
    """One training through the real Trainer (on CUDA unless `settings` say otherwise); its speed and quality.

    A run whose loss diverges is a result (`diverged` holds why), not the section's end.
    """
    cfg = TrainConfig(**{"device": "cuda", "epochs": EPOCHS, **settings})
    ends: list[float] = []
    trainer = Trainer(cfg, data, callbacks=[epoch_clock(ends)])
    if programs:
        set_engine_programs(trainer.engine, programs)
    try:
        outcome = trainer.train()
    except TrainingError as exc:
        return {"diverged": str(exc), "programs": engine_programs(trainer.engine)}
    figures = {
        **epoch_figures(ends, data.raw_tokens),
        "tokens_per_s": data.raw_tokens * cfg.epochs / outcome.train_seconds,
        "centers_per_s": outcome.centers / outcome.train_seconds,
        "steady_centers_per_s": _steady_centers(outcome.centers, ends),
        "centers": outcome.centers,
        "steps": outcome.steps,
        "train_s": outcome.train_seconds,
        "mean_loss": float(np.mean(outcome.epoch_losses)),
        "programs": engine_programs(trainer.engine),
        "engine": type(trainer.engine).__name__,  # the tensor engine if the kernel failed its probe
    }
    if scored:
        vectors = trainer.vectors()[0].cpu().numpy()
        figures |= quality(data.vocab.idx_to_token[1:], vectors[1:], ctx.data_dir)
    return figures


def _steady_centers(centers: int, ends: list[float]) -> float | None:
    """Centers per second after the first epoch (which holds compiling and graph capture)."""
    if len(ends) < 2 or ends[-1] <= ends[0]:
        return None
    return centers * (len(ends) - 1) / len(ends) / (ends[-1] - ends[0])


def ptb_problem(data: Prepared, seed: int = 0) -> Problem:
    """One PTB epoch sample, drawn as the Trainer draws it, with its noise tables, on the GPU."""
    cfg = TrainConfig()
    device = data.device
    keep = keep_probabilities(data.vocab.counts, cfg.subsample).to(device)
    segment = next(data.segments())
    sample = sample_epoch(segment.ids, segment.sentence, keep, cfg.max_window, epoch_generator(seed, 0, device))
    return Problem.of(sample, NoiseTable(data.vocab.counts), device)


def env(ctx: Context) -> None:
    """The machine, then the kernel's first launch at PTB's shapes from an empty Triton cache (compile seconds)."""
    import triton

    props = torch.cuda.get_device_properties(0)
    ctx.emit(
        "machine",
        gpu=props.name,
        sms=props.multi_processor_count,
        memory_gb=props.total_memory / 2**30,
        torch=torch.__version__,
        triton=triton.__version__,
        cuda=torch.version.cuda,
        python=platform.python_version(),
        host_cores=os.cpu_count(),
    )
    sample, noise = random_problem(512, 200, seed=5)
    problem = Problem.of(sample, noise, torch.device("cuda"))
    launches = []
    for _ in range(2):
        v, u = (t.cuda() for t in tables(200, seed=6))
        began = time.perf_counter()
        gpu_slice(v, u, problem, K, 1, (0.025, 0.025), 4, (0, len(problem)))
        torch.cuda.synchronize()
        launches.append(time.perf_counter() - began)
    ctx.emit("compile", seconds=launches[0], second_launch_s=launches[1], dim=DIM, k=K)


def exact(ctx: Context) -> None:
    """One program against the CPU reference; 8,192 programs adding 1.0 to one row; the atomic test at lr 1e-6."""
    from core.bench.gpu_atomic import programs_add_one

    cuda = torch.device("cuda")
    ctx.emit("one_program", **one_program(cuda))
    row = programs_add_one(8192, DIM, cuda)
    ctx.emit("atomic_sum", programs=8192, low=float(row.min()), high=float(row.max()))
    ctx.emit("atomic_ratio", **atomic_ratio(cuda))


def speed(ctx: Context) -> None:
    """Kernel-only centers/s over a PTB epoch sample for each number of programs, and the default for PTB."""
    data = ctx.ptb
    ctx.emit("default_programs", corpus="ptb", programs=default_programs(data.vocab.counts, K, data.device))
    problem = ptb_problem(data)
    for rate in kernel_rates(problem, len(data.vocab), PROGRAMS):
        ctx.emit("kernel_rate", **rate, raw_tokens_per_s=rate["centers_per_s"] * data.raw_tokens / len(problem))


def host(ctx: Context) -> None:
    """The host's share of a training step: 2 PTB epochs through the Trainer against the kernel alone."""
    data = ctx.ptb
    run = train(ctx, data, scored=False, epochs=2)
    if "diverged" in run or not run["programs"]:  # diverged, or the kernel failed its probe (tensor engine)
        ctx.emit("host_share", **run)
        return
    programs = run["programs"]
    rate = next(kernel_rates(ptb_problem(data), len(data.vocab), (programs,)))
    epoch_s, centers = run["epoch_s"][-1], run["centers"] / 2
    kernel_s = centers / rate["centers_per_s"]
    steps = run["steps"] / 2
    ctx.emit(
        "host_share",
        programs=programs,
        epoch_s=epoch_s,
        kernel_s=kernel_s,
        steps_per_epoch=steps,
        share=max(0.0, 1 - kernel_s / epoch_s),
        host_ms_per_step=1000 * max(0.0, epoch_s - kernel_s) / max(steps, 1),
    )


def grid(ctx: Context) -> None:
    """PTB, 5 epochs, for each number of programs (most first) x sgd_lr x seed."""
    data = ctx.ptb
    for programs in sorted(PROGRAMS, reverse=True):
        for lr in GRID_LRS:
            for seed in GRID_SEEDS:
                run = train(ctx, data, programs, seed=seed, sgd_lr=lr)
                ctx.emit("cell", **{**run, "programs": programs, "sgd_lr": lr, "seed": seed})


def confirm(ctx: Context) -> None:
    """The grid's pick (else the defaults) end to end on 3 seeds, PTB, 5 epochs."""
    chosen = pick([r for r in ctx.earlier() if r["section"] == "grid" and r["what"] == "cell"])
    settings = {"sgd_lr": chosen["sgd_lr"]} if chosen else {}
    programs = chosen["programs"] if chosen else None
    ctx.emit("setting", picked=chosen is not None, programs=programs, sgd_lr=settings.get("sgd_lr"))
    for seed in CONFIRM_SEEDS:
        ctx.emit("run", seed=seed, **train(ctx, ctx.ptb, programs, seed=seed, **settings))


def book(ctx: Context) -> None:
    """The book mode: batches 512 and 65,536 for 5 epochs, then 1 and 1,000,000 for a fixed number of steps."""
    data = ctx.ptb
    for batch in BOOK_BATCHES:
        ctx.emit(
            "run", batch_size=batch, epochs=EPOCHS, **train(ctx, data, scored=False, mode="book", batch_size=batch)
        )
    for batch, tokens, epochs in BOOK_FIXED:
        part = data if tokens is None else _first_tokens(data, tokens)
        run = train(ctx, part, scored=False, mode="book", batch_size=batch, epochs=epochs)
        steps = -(-run["centers"] // batch) if "centers" in run else None
        ctx.emit("run", batch_size=batch, epochs=epochs, adam_steps=steps, **run)


def _first_tokens(data: Prepared, tokens: int) -> Prepared:
    """The corpus's first whole sentences holding at least `tokens` tokens, with the full vocabulary."""
    cut = int(np.searchsorted(data.offsets, tokens)) + 1
    return Prepared(data.vocab, data.offsets[:cut], data.read, data.device)


def scale(ctx: Context) -> None:
    """One epoch of 100 M synthetic Zipf tokens generated on the GPU: raw tokens/s and peak GPU memory."""
    cuda = torch.device("cuda")
    torch.cuda.reset_peak_memory_stats(cuda)
    began = time.perf_counter()
    data = device_zipf(SCALE_TOKENS, SCALE_VOCAB, 0, cuda)
    generate_s = time.perf_counter() - began
    ctx.emit("default_programs", corpus="zipf", programs=default_programs(data.vocab.counts, K, cuda))
    run = train(ctx, data, scored=False, corpus="synthetic", min_freq=1, epochs=1)
    peak = torch.cuda.max_memory_allocated(cuda) / 2**20
    ctx.emit("run", tokens=SCALE_TOKENS, generate_s=generate_s, peak_gpu_mb=peak, **run)


def device_zipf(tokens: int, vocab_size: int, seed: int, device: torch.device) -> Prepared:
    """Token ids drawn from a Zipf law (rank^-1) on the device, in sentences of 5-40 tokens."""
    gen = torch.Generator(device=device).manual_seed(seed)
    cdf = torch.cumsum(1.0 / torch.arange(1, vocab_size + 1, device=device, dtype=torch.float64), 0)
    cdf /= cdf[-1].clone()
    ids = torch.empty(tokens, dtype=torch.int32, device=device)
    for start in range(0, tokens, 1 << 24):
        block = ids[start : start + (1 << 24)]
        draws = torch.rand(block.numel(), generator=gen, device=device, dtype=torch.float64)
        block.copy_(torch.searchsorted(cdf, draws, right=True).clamp_(max=vocab_size - 1) + 1)
    lengths = np.random.default_rng(seed).integers(5, 41, size=tokens // 5)
    lengths = lengths[: np.searchsorted(np.cumsum(lengths), tokens) + 1]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    offsets[-1] = tokens
    counts = torch.bincount(ids, minlength=vocab_size + 1).cpu().tolist()
    vocab = Vocab(["<unk>"] + [f"w{i}" for i in range(1, vocab_size + 1)], counts)
    return Prepared(vocab, offsets, lambda start, stop: ids[start:stop], device)


def cpu(ctx: Context) -> None:
    """The CPU references, optional: our fast mode on all host cores, then gensim if it is installed."""
    data = ctx.ptb_on(torch.device("cpu"))
    ctx.emit("fast_cpu", threads=os.cpu_count(), **train(ctx, data, device="cpu"))
    if importlib.util.find_spec("gensim") is not None:
        from core.bench.gensim import run_gensim

        ctx.emit("gensim", **run_gensim(0, EPOCHS, str(ctx.data_dir)))


SECTIONS: dict[str, Callable[[Context], None]] = {
    "env": env,
    "exact": exact,
    "speed": speed,
    "host": host,
    "grid": grid,
    "confirm": confirm,
    "book": book,
    "scale": scale,
    "cpu": cpu,
}
PLAN: tuple[tuple[str, float], ...] = (
    ("env", 40),
    ("exact", 35),
    ("speed", 25),
    ("host", 20),
    ("grid", 80),
    ("confirm", 30),
    ("book", 40),
    ("scale", 35),
    ("cpu", 35),  # numba compiles the CPU kernel from an empty cache there
)


def main(argv: list[str]) -> int:
    name, results, data_dir = argv
    ctx = Context(name, Path(results), Path(data_dir))
    try:
        SECTIONS[name](ctx)
    except Exception as exc:
        ctx.emit("error", error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
