"""The side-by-side table of `python -m core bench`: our fast and book modes and gensim, side by side in one invocation.

Each (system, seed) runs in a fresh process (or a torchrun group, for `--processes 2`), one after
another, so peak memory is its own and no two compete for the cores. The table shows medians over
seeds and speed as a ratio to gensim measured in the same invocation, since absolute times on a
shared machine drift. gensim runs twice: at its default starting rate and at ours (`alpha` = `sgd_lr`),
since the quality of SGD vectors after a few epochs depends on that rate more than on the code.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from core.config import TrainConfig

SYSTEMS = ("fast", "book", "gensim")
NOT_NUMBERS = ("chip_top5", "chip_top10", "device", "rate_quartiles", "epoch_s")
GENSIM_ALPHA = 0.025  # gensim's default starting learning rate
GENSIM_ROWS = {f"gensim alpha={rate:g}": rate for rate in (GENSIM_ALPHA, TrainConfig().sgd_lr)}
SPEED_BASE = f"gensim alpha={GENSIM_ALPHA:g}"  # the row the speed ratios divide by


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m core bench", description=__doc__)
    parser.add_argument("--systems", nargs="*", default=list(SYSTEMS), choices=SYSTEMS, help="none: skip PTB")
    parser.add_argument(
        "--processes",
        nargs="+",
        type=int,
        default=[1],
        help="also run our modes data-parallel in this many processes (torchrun, gloo on CPU), e.g. 1 2",
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--device", default="cpu", help="auto, cpu or cuda (gensim always runs on the CPU)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--data-dir", help="folder or file with ptb.zip (default: $W2V_DATA_DIR, then the cache)")
    parser.add_argument(
        "--scale", type=int, default=0, metavar="TOKENS", help="also train one epoch on TOKENS synthetic Zipf tokens"
    )
    parser.add_argument(
        "--stream", type=int, default=0, metavar="TOKENS", help="write, tokenise and train from a text file of TOKENS"
    )
    parser.add_argument("--stream-dir", default="bench-data", help="where the streaming check writes its files")
    parser.add_argument("--stream-seconds", type=float, default=60.0, help="training time of the streaming check")
    parser.add_argument("--json", type=Path, default=None, help="where to write the results (default: bench-results/)")
    parser.add_argument(
        "--gpu-check",
        action="store_true",
        help="issue 23's GPU figures and checklist, one command, under 6 minutes (core.bench.gpu); "
        "--json names its results file (JSON lines)",
    )
    parser.add_argument(
        "--prepare",
        action="store_true",
        help="with --gpu-check: copy ptb.zip and gensim's pair files into device-data/ for the GPU machine",
    )
    parser.add_argument(
        "--report", type=Path, metavar="FILE", help="with --gpu-check: print the checklist of a results file"
    )
    parser.add_argument(
        "--busy", type=int, default=0, metavar="N", help="keep N other processes spinning on the CPU while measuring"
    )
    parser.add_argument(
        "--watch",
        action="store_true",
        help="instead: PTB from the command line, then from the app with the Train page open in headless "
        "Chromium; tokens/s of both (python -m core bench --watch --help)",
    )
    parser.add_argument(
        "--maps",
        action="store_true",
        help="instead: time PCA, t-SNE and UMAP maps of PTB's 1,000 most frequent words "
        "(python -m core bench --maps --help)",
    )
    parser.add_argument(
        "--chapter",
        action="store_true",
        help="instead: time each section of the Inside the model page on PTB (python -m core bench --chapter --help)",
    )
    return parser.parse_args(argv)


def measure(
    system: str,
    seed: int,
    args: argparse.Namespace,
    processes: int = 1,
    folder: str | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """One measurement in a fresh process (or `processes` of them under torchrun); its output goes to stderr.

    `gensim:ALPHA` is gensim at starting rate ALPHA; plain `gensim` at its default.
    """
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    on = device or args.device
    command = [*launcher, "-m", "core.bench.systems", system, str(seed), on, str(args.epochs)]
    if system.partition(":")[0] == "gensim":
        alpha = system.partition(":")[2] or str(GENSIM_ALPHA)
        command = [sys.executable, "-m", "core.bench.gensim", str(seed), str(args.epochs), alpha]
    if folder or args.data_dir:
        command.append(folder or args.data_dir)
    print(f"running {system} seed {seed} in {processes} process(es) ...", file=sys.stderr, flush=True)
    began = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{system} seed {seed} failed (exit {done.returncode}); its output is above")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result | {"process_s": time.perf_counter() - began - result.get("scoring_s", 0.0)}


def measure_all(args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """Every (system, process count) over every seed; gensim has no data-parallel mode and runs at both rates."""
    results = {}
    for system in args.systems:
        if system == "gensim":
            for name, rate in GENSIM_ROWS.items():
                results[name] = [measure(f"gensim:{rate:g}", seed, args) for seed in args.seeds]
            continue
        for processes in args.processes:
            name = system if processes == 1 else f"{system} {processes}proc"
            results[name] = [measure(system, seed, args, processes) for seed in args.seeds]
    if args.device != "cpu" and "fast" in args.systems:  # our CPU kernel on all host cores, beside the GPU
        results["fast cpu"] = [measure("fast", seed, args, device="cpu") for seed in args.seeds]
    return results


def warm_up() -> None:
    """Compile the CPU kernel once (cached on disk) so no system's timing includes compilation."""
    subprocess.run(
        [sys.executable, "-c", "from core.engines.kernel_numba import warm_up; warm_up('fast'); warm_up('book')"],
        check=True,
    )


def summarise(results: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    rows = {}
    for system, runs in results.items():
        row = {key: _median([r.get(key) for r in runs]) for key in runs[0] if key not in NOT_NUMBERS}
        row["tokens_per_s"] = _median([r["raw_tokens"] / r["train_s"] for r in runs])
        row["centers_per_s"] = _median([r["centers"] / r["train_s"] for r in runs])
        row["chip_top5"] = runs[0].get("chip_top5", [])
        row["chip_top10"] = runs[0].get("chip_top10", [])
        row["device"] = runs[0]["device"]
        row["seeds"] = len(runs)
        rows[system] = row
    if SPEED_BASE in rows:
        for row in rows.values():
            row["x_gensim"] = row["tokens_per_s"] / rows[SPEED_BASE]["tokens_per_s"]
    return rows


def _median(values: list[Any]) -> Any:
    numbers = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(numbers) if numbers else None


def table(rows: dict[str, dict[str, Any]]) -> str:
    columns = [
        ("system", lambda s, r: s),
        ("prep s", lambda s, r: f"{r['prepare_s']:.2f}"),
        ("train s", lambda s, r: f"{r['train_s']:.2f}"),
        ("process s", lambda s, r: f"{r['process_s']:.1f}" if r.get("process_s") else "-"),  # scoring left out
        ("raw tok/s", lambda s, r: f"{r['tokens_per_s']:,.0f}"),
        ("steady tok/s", lambda s, r: f"{r['steady_tokens_per_s']:,.0f}" if r.get("steady_tokens_per_s") else "-"),
        ("1st epoch s", lambda s, r: _fmt(r.get("first_epoch_s"))),
        ("centers/s", lambda s, r: f"{r['centers_per_s']:,.0f}"),
        (f"x {SPEED_BASE}", lambda s, r: f"{r['x_gensim']:.2f}" if r.get("x_gensim") else "-"),
        ("peak MB", lambda s, r: f"{r['peak_mb']:.0f}"),
        ("final loss", lambda s, r: _fmt(r.get("final_loss"))),
        ("mean loss", lambda s, r: _fmt(r.get("mean_loss"))),
        ("WS353 (pairs)", lambda s, r: _pairs(r, "wordsim353")),
        ("SimLex (pairs)", lambda s, r: _pairs(r, "simlex999")),
        ("analogy", lambda s, r: _fmt(r.get("analogy"))),
        ("chip top-5", lambda s, r: ", ".join(r.get("chip_top5") or [])),
    ]
    cells = [[name for name, _ in columns]] + [[f(s, r) for _, f in columns] for s, r in rows.items()]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def rates_line() -> str:
    """The starting learning rates behind the rows: quality after a few epochs follows them."""
    cfg = TrainConfig()
    return (
        f"starting learning rates: fast {cfg.sgd_lr:g} (SGD, linear decay to 0), book {cfg.lr:g} (Adam), "
        f"gensim as its row names it (linear decay to 0.0001); x {SPEED_BASE}: raw tokens/s divided by that row's"
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _pairs(row: dict[str, Any], key: str) -> str:
    return "-" if row.get(key) is None else f"{row[key]:.3f} ({row[key + '_pairs']:.0f})"


def scale_line(result: dict[str, Any]) -> str:
    quartiles = ", ".join(f"{q:,.0f}" for q in result["rate_quartiles"])
    return (
        f"scale: {result['raw_tokens']:,} synthetic Zipf tokens, 1 epoch on {result['device']}: "
        f"{result['raw_tokens'] / result['train_s']:,.0f} raw tokens/s (quartiles of the running rate: {quartiles}), "
        f"generation {result['prepare_s']:.1f} s, peak memory {result['peak_mb']:.0f} MB "
        f"({result['peak_mb_after_data']:.0f} MB after generating the data)"
    )


def stream_check(args: argparse.Namespace) -> dict[str, Any]:
    """Write, tokenise and train from a large text file, each step in its own process."""
    seed, tokens = args.seeds[0], args.stream
    text = measure(f"stream-text:{tokens}", seed, args, folder=args.stream_dir)
    built = measure(f"stream-build:{tokens}", seed, args, folder=args.stream_dir)
    trained = measure(f"stream-train:{tokens}:{args.stream_seconds}", seed, args, folder=args.stream_dir)
    print(
        f"stream: {text['bytes'] / 1e9:.2f} GB of text ({tokens:,} Zipf tokens, written in {text['seconds']:.0f} s); "
        f"tokenised into a store in {built['seconds']:.0f} s ({built['tokens_per_s']:,.0f} tokens/s, "
        f"{built['words']:,} distinct words, store {built['store_bytes'] / 1e9:.2f} GB) with peak memory "
        f"{built['peak_mb']:.0f} MB; trained from the store for {trained['train_s']:.0f} s: "
        f"{trained['trained_tokens']:,.0f} tokens at {trained['tokens_per_s']:,.0f} tokens/s, peak memory "
        f"{trained['peak_mb']:.0f} MB (model {trained['model_mb']:.0f} MB, vocabulary {trained['vocab']:,})"
    )
    return {"text": text, "build": built, "train": trained}
