"""The GPU check's checklist, printed from whatever reached the results file.

Each row says PASS or FAIL against issue 23's targets, `info` for a figure without one, or `----`
with the reason when its figures did not arrive (the section failed, was killed at its deadline,
was skipped or never ran). The CPU reference rows come last and are optional: their absence or
failure is shown and changes nothing above them. `python -m core bench --gpu-check --report FILE`
prints it for a file written earlier, or a partial one.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.bench import gpu_results

PTB_TOKENS_S = 20e6  # raw tokens/s on PTB, 5 epochs, median of 3 seeds
WS353_MIN, SIMLEX_MIN = 0.30, 0.17
SCALE_TOKENS_S = 50e6  # raw tokens/s on the 100 M-token corpus
BOOK_CENTERS_S, BOOK_LOSS_MAX = 1e6, 0.43
EXACT_MAX_DIFF = 1e-4  # one program against the CPU reference: float32 sums in another order
ATOMIC_RATIO = (0.98, 1.02)
ATOMIC_PROGRAMS = 8192
CHIP_NEIGHBOURS = {"microprocessor", "mips", "intel"}

Record = dict[str, Any]


class Found:
    """The records of one results file, by section."""

    def __init__(self, records: list[Record]) -> None:
        self.records = records

    def all(self, section: str, what: str) -> list[Record]:
        return [r for r in self.records if r["section"] == section and r["what"] == what]

    def one(self, section: str, what: str) -> Record | None:
        found = self.all(section, what)
        return found[-1] if found else None

    def why(self, section: str) -> str:
        """Why a figure of `section` is missing: 'did not arrive' and the section's fate."""
        return f"did not arrive ({self.fate(section)})"

    def fate(self, section: str) -> str:
        """How `section` ended, from its end record and error, if any."""
        error, end = self.one(section, "error"), self.one(section, "end")
        if end is None:
            return f"{section}: not run"
        if end["status"] == "killed":
            return f"{section}: killed at its {end['deadline_s']:.0f} s deadline"
        if end["status"] == "skipped":
            return f"{section}: skipped, the check's time was spent"
        if error is not None:
            return f"{section} failed: {error['error']}"
        if end["status"] == "failed":
            return f"{section} failed, exit {end.get('rc')}"
        return f"{section}: finished without it"


def judged(label: str, shown: str | None, ok: bool, why: str) -> str:
    if shown is None:
        return f"----  {label}: {why}"
    return f"{'PASS' if ok else 'FAIL'}  {label}: {shown}"


def info(label: str, shown: str | None, why: str) -> str:
    return f"----  {label}: {why}" if shown is None else f"info  {label}: {shown}"


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if abs(value) >= 1e6:
            return f"{value / 1e6:,.1f} M"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def median(runs: list[Record], key: str) -> float | None:
    values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
    return statistics.median(values) if values else None


def clears(run: Record) -> bool:
    """A run that finished with WS353 and SimLex at or above the targets."""
    ws, sl = run.get("wordsim353"), run.get("simlex999")
    return "diverged" not in run and ws is not None and sl is not None and ws >= WS353_MIN and sl >= SIMLEX_MIN


def pick(cells: list[Record], seeds: int = 2) -> Record | None:
    """The fastest (programs, sgd_lr) whose runs on at least `seeds` seeds all clear WS353 / SimLex; None if none."""
    settings: dict[tuple[int, float], list[Record]] = {}
    for cell in cells:
        settings.setdefault((cell["programs"], cell["sgd_lr"]), []).append(cell)
    cleared = [
        {"programs": p, "sgd_lr": lr, "tokens_per_s": median(runs, "tokens_per_s") or 0.0}
        for (p, lr), runs in settings.items()
        if len({r["seed"] for r in runs}) >= seeds and all(clears(r) for r in runs)
    ]
    return max(cleared, key=lambda s: s["tokens_per_s"]) if cleared else None


def machine_rows(f: Found) -> list[str]:
    env, compile_ = f.one("env", "machine"), f.one("env", "compile")
    shown = None
    if env:
        shown = f"{env['gpu']}, {env['sms']} SMs, torch {env['torch']}, triton {env['triton']}, CUDA {env['cuda']}"
        shown += f", {env['host_cores']} host cores"
    return [
        info("machine", shown, f.why("env")),
        info("Triton compile of the kernel, empty cache", compile_ and f"{compile_['seconds']:.1f} s", f.why("env")),
    ]


def exact_rows(f: Found) -> list[str]:
    one, added, ratio = f.one("exact", "one_program"), f.one("exact", "atomic_sum"), f.one("exact", "atomic_ratio")
    lo, hi = ATOMIC_RATIO
    return [
        judged(
            f"kernel, 1 program, equals the CPU reference (max diff <= {EXACT_MAX_DIFF:g}, same centers and loss)",
            one and f"{one['max_diff']:.3g}, {one['scored']:,.0f} / {one['scored_cpu']:,} scored",
            bool(one) and _equal(one),
            f.why("exact"),
        ),
        judged(
            f"{ATOMIC_PROGRAMS:,} programs adding 1.0 to one row give exactly {ATOMIC_PROGRAMS:,}",
            added and f"{added['low']:,.0f} .. {added['high']:,.0f}",
            bool(added) and added["low"] == added["high"] == ATOMIC_PROGRAMS,
            f.why("exact"),
        ),
        judged(
            f"atomic test at lr 1e-6, observed / expected change in {lo}-{hi}",
            ratio and f"{ratio['ratio']:.4f} ({ratio['programs']:,} programs)",
            bool(ratio) and lo <= ratio["ratio"] <= hi,
            f.why("exact"),
        ),
    ]


def _equal(one: Record) -> bool:
    """Tables within EXACT_MAX_DIFF, the same centers scored and the loss sums equal to 1e-4 relative."""
    same_loss = abs(one["loss"] - one["loss_cpu"]) <= 1e-4 * max(1.0, abs(one["loss_cpu"]))
    return one["max_diff"] <= EXACT_MAX_DIFF and one["scored"] == one["scored_cpu"] and same_loss


def speed_rows(f: Found) -> list[str]:
    defaults = f.all("speed", "default_programs") + f.all("scale", "default_programs")
    rates = f.all("speed", "kernel_rate")
    share = f.one("host", "host_share")
    shares = None
    if share and "share" in share:
        shares = (
            f"{share['share']:.0%} of a step, {share['host_ms_per_step']:.2f} ms per step (P = {share['programs']})"
        )
    elif share:
        shares = f"not measured: diverged ({share['diverged']})" if "diverged" in share else None
        shares = shares or f"not measured: the run trained on {share.get('engine')} (the kernel failed its probe?)"
    return [
        info(
            "default centers in flight",
            ", ".join(f"{d['corpus']} {d['programs']}" for d in defaults) or None,
            f.why("speed"),
        ),
        info(
            "kernel-only centers/s on a PTB epoch (CUDA events)",
            ", ".join(f"P={r['programs']} {fmt(r['centers_per_s'])}" for r in rates) or None,
            f.why("speed"),
        ),
        info("host's share of a PTB training step", shares, f.why("host")),
    ]


def grid_rows(f: Found) -> list[str]:
    cells = f.all("grid", "cell")
    chosen = pick(cells)
    shown = None
    if cells:
        end = f.one("grid", "end")
        complete = "" if end and end["status"] == "done" else f" ({f.fate('grid')})"
        shown = f"{len(cells)} runs{complete}: "
        shown += "none" if chosen is None else f"P={chosen['programs']}, sgd_lr {chosen['sgd_lr']}"
        shown += "" if chosen is None else f", {fmt(chosen['tokens_per_s'])} raw tokens/s"
    label = f"quality grid picks the fastest setting with WS353 >= {WS353_MIN:.2f}, SimLex >= {SIMLEX_MIN:.2f}"
    label += " on both seeds"
    return [judged(label, shown, chosen is not None, f.why("grid"))]


def confirm_rows(f: Found) -> list[str]:
    setting, runs = f.one("confirm", "setting"), [r for r in f.all("confirm", "run") if "diverged" not in r]
    why = f.why("confirm")
    where = ""
    if setting:
        where = "grid's pick" if setting["picked"] else "defaults, no pick"
        engine = f", {runs[0].get('engine', '?')}" if runs else ""
        where = f" ({len(runs)} seeds, {where}, P={runs[0]['programs'] if runs else setting['programs']}{engine})"
    rate, ws, sl = (median(runs, k) for k in ("tokens_per_s", "wordsim353", "simlex999"))
    chip = [bool(CHIP_NEIGHBOURS & set(r.get("chip_top10", []))) for r in runs]
    tops = "; ".join(" ".join(r.get("chip_top10", [])) for r in runs) if runs else None
    fast_runs = f.all("grid", "cell") + f.all("confirm", "run")
    diverged = [r for r in fast_runs if "diverged" in r]
    return [
        judged(
            f"PTB fast, 5 epochs, median raw tokens/s >= 20 M{where}",
            _num(rate, fmt),
            _at_least(rate, PTB_TOKENS_S),
            why,
        ),
        judged(f"PTB fast, median WS353 >= {WS353_MIN:.2f}", _num(ws, _score), _at_least(ws, WS353_MIN), why),
        judged(f"PTB fast, median SimLex >= {SIMLEX_MIN:.2f}", _num(sl, _score), _at_least(sl, SIMLEX_MIN), why),
        judged("chip's top 10 holds microprocessor, mips or intel (every seed)", tops, all(chip), why),
        judged(
            "no fast-mode run diverged (grid and confirmation)",
            f"{len(diverged)} of {len(fast_runs)} diverged" if fast_runs else None,
            not diverged,
            f.why("grid"),
        ),
    ]


def _num(value: float | None, show: Callable[[float], str]) -> str | None:
    return None if value is None else show(value)


def _at_least(value: float | None, bound: float) -> bool:
    return value is not None and value >= bound


def book_rows(f: Found) -> list[str]:
    runs, why = f.all("book", "run"), f.why("book")
    epochs = [r for r in runs if "adam_steps" not in r]
    lines = []
    for run in epochs:
        shown = f"diverged: {run['diverged']}" if "diverged" in run else _book_shown(run)
        ok = "diverged" not in run and run["mean_loss"] <= BOOK_LOSS_MAX
        label = f"book, batch {run['batch_size']:,}, {run.get('epochs', '?')} epochs: no divergence, "
        label += f"mean loss <= {BOOK_LOSS_MAX}"
        lines.append(judged(label, shown, ok, why))
    good = [r for r in epochs if "diverged" not in r and r["mean_loss"] <= BOOK_LOSS_MAX]
    best = max(good, key=lambda r: r.get("steady_centers_per_s") or 0.0, default=None)
    rate = None if best is None else best.get("steady_centers_per_s") or 0.0
    shown = None if not epochs else "no batch size reached the loss"
    if best is not None:
        shown = f"{fmt(rate)} (batch {best['batch_size']:,})"
    label = f"book >= 1 M centers/s (after epoch 1) at mean loss <= {BOOK_LOSS_MAX}"
    lines.append(judged(label, shown, _at_least(rate, BOOK_CENTERS_S), why))
    for run in [r for r in runs if "adam_steps" in r]:
        diverged = "diverged" in run
        shown = f"diverged: {run['diverged']}" if diverged else f"{run['adam_steps']:,} Adam steps, " + _book_shown(run)
        label = f"book, batch {run['batch_size']:,}, a fixed number of steps: no divergence"
        lines.append(judged(label, shown, not diverged, why))
    if not runs:
        lines.append(judged("book mode, batches 512 / 65,536 / 1 / 1,000,000", None, False, why))
    return lines


def _book_shown(run: Record) -> str:
    return f"mean loss {run['mean_loss']:.3f}, {fmt(run.get('steady_centers_per_s') or run['centers_per_s'])} centers/s"


def scale_rows(f: Found) -> list[str]:
    run, why = f.one("scale", "run"), f.why("scale")
    shown = memory = None
    if run is not None:
        shown = f"diverged: {run['diverged']}" if "diverged" in run else fmt(run["tokens_per_s"])
        memory = f"{run['peak_gpu_mb']:,.0f} MB (corpus generated in {run['generate_s']:.1f} s)"
    ok = run is not None and "diverged" not in run and run["tokens_per_s"] >= SCALE_TOKENS_S
    return [
        judged("100 M tokens on the GPU, 1 epoch, raw tokens/s >= 50 M", shown, ok, why),
        info("100 M tokens: peak GPU memory", memory, why),
    ]


def cpu_rows(f: Found) -> list[str]:
    lines = []
    finished = (f.one("cpu", "end") or {}).get("status") == "done"
    for what, label in (("fast_cpu", "fast mode on the CPU, all host cores"), ("gensim", "gensim, all host cores")):
        run = f.one("cpu", what)
        shown = None
        if run is not None and "diverged" not in run:
            shown = f"{fmt(run.get('tokens_per_s') or run['raw_tokens'] / run['train_s'])} raw tokens/s"
            shown += f", WS353 {_score(run.get('wordsim353'))}, SimLex {_score(run.get('simlex999'))}"
        elif run is not None:
            shown = f"diverged: {run['diverged']}"
        why = "gensim is not installed here" if what == "gensim" and finished else f.why("cpu")
        lines.append(info(f"(optional) {label}", shown, why))
    return lines


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


GPU_ROWS: tuple[Callable[[Found], list[str]], ...] = (
    machine_rows,
    exact_rows,
    speed_rows,
    grid_rows,
    confirm_rows,
    book_rows,
    scale_rows,
)


def grid_table(f: Found) -> list[str]:
    """The grid's runs, one line per (programs, sgd_lr): WS353 and SimLex per seed, median raw tokens/s."""
    settings: dict[tuple[int, float], list[Record]] = {}
    for run in f.all("grid", "cell"):
        settings.setdefault((run["programs"], run["sgd_lr"]), []).append(run)
    lines = []
    for (programs, lr), runs in sorted(settings.items(), key=lambda item: (-item[0][0], item[0][1])):
        scores = " ".join(
            "diverged" if "diverged" in r else f"{_score(r.get('wordsim353'))}/{_score(r.get('simlex999'))}"
            for r in sorted(runs, key=lambda r: r["seed"])
        )
        lines.append(
            f"P={programs:<4} sgd_lr {lr:<6} WS353/SimLex by seed {scores}  {fmt(median(runs, 'tokens_per_s'))}"
        )
    return ["", "Quality grid (PTB, 5 epochs; raw tokens/s, median over seeds):", *lines] if lines else []


def sections_line(f: Found) -> str:
    ends = [r for r in f.records if r["what"] == "end"]
    return "sections: " + (
        ", ".join(f"{r['section']} {r['status']} {r.get('seconds', 0):.0f} s" for r in ends) or "none ended"
    )


def checklist(path: Path) -> str:
    """The checklist of the results file at `path`, however much of it arrived."""
    f = Found(gpu_results.read(path))
    lines = [f"GPU check, from {path}", sections_line(f), ""]
    for rows in GPU_ROWS:
        lines += rows(f)
    lines += [*grid_table(f), "", "CPU reference (optional):", *cpu_rows(f)]
    return "\n".join(lines)
