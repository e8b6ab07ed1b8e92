"""`python -m core bench --watch`: does watching a training in the app slow it down?

PTB with the default settings trains from the command line and from the app in headless
Chromium with the Train page open and following the run to its end; each is a training process of
its own, and the ratio of their tokens per second says what watching costs. The pair runs
`--repeats` times, one pair right after the other, the command line first in every other pair, and
the median ratio is the figure, with its quartiles: a shared machine's speed drifts by 10-30% from
one minute to the next, so single pairs scatter. Each app run also times its Start click (the
Train page open for READING_S seconds before it, as a user reads the form) to the first loss
point: when the training process writes it, and when the page shows it. Needs Playwright and
Chromium (`/usr/bin/chromium`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.runs import Run, list_runs

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
READING_S = 3  # the Train page is open this long before Start is pressed, as a user reads the form
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def command_line_run(root: Path, epochs: int, env: dict[str, str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "core", "train", "--epochs", str(epochs), "--name", "cli", "--run-dir", str(root)]
    began = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    status = Run.open("cli", root).status()
    return {"tokens_per_s": status.tokens_per_s, "train_s": status.train_seconds, "wall_s": time.perf_counter() - began}


@contextmanager
def chromium_page(height: int = 1700, timeout_s: float = 120.0) -> Iterator[Any]:
    """A 1400-px-wide page in headless Chromium (`CHROMIUM_ARGS`), closed afterwards; Playwright's actions
    and assertions wait up to `timeout_s` (a cold app start takes longer than their defaults)."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": height})
            page.set_default_timeout(timeout_s * 1000)
            expect.set_options(timeout=timeout_s * 1000)
            yield page
        finally:
            browser.close()


def app_run(root: Path, epochs: int, env: dict[str, str], timeout_s: float) -> dict[str, Any]:
    """Start the run from the Train page and keep the page open, following the run, until it finishes."""
    from playwright.sync_api import expect

    port = free_port()
    server_command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    server_command += ["--server.port", str(port)]
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(server_command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://localhost:{port}"
            wait_healthy(url, server)
            with chromium_page() as page:
                page.goto(f"{url}/train")
                expect(page.get_by_role("heading", name="Train", exact=True)).to_be_visible()
                field = page.get_by_label(re.compile("^Epochs"))
                field.fill(str(epochs))
                field.press("Enter")
                page.wait_for_timeout(READING_S * 1000)
                clicked = time.time()
                page.get_by_role("button", name="Start").click()
                page.get_by_text(re.compile(r"\d+ loss points? logged")).wait_for()
                on_page_s = time.time() - clicked
                run = _wait_finished(root, timeout_s)
        finally:
            server.terminate()
            server.wait(30)
    status = run.status()
    first_point_s = run.metrics()[0].time - clicked  # the training process stamps each row with the wall clock
    return {
        "tokens_per_s": status.tokens_per_s,
        "train_s": status.train_seconds,
        "first_point_s": first_point_s,
        "on_page_s": on_page_s,
    }


def _wait_finished(root: Path, timeout_s: float) -> Run:
    """The app's run, once it has finished."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for run in list_runs(root):
            status = run.status()
            if status.state == "finished":
                return run
            if status.state in ("failed", "stopped", "interrupted"):
                raise RuntimeError(f"the app's run ended {status.state}: {status.message}")
        time.sleep(0.5)
    raise TimeoutError(f"the app's run did not finish within {timeout_s:.0f} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, timeout_s: float = 120.0) -> None:
    """Wait until the Streamlit server at `url` answers its health check; fail at once if it exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError("the app did not come up")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m core bench --watch", description=__doc__)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=9, help="pairs of runs (command line, app), one after another")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds the app's run may take")
    parser.add_argument("--json", type=Path, default=None, help="where to write the results (default: bench-results/)")
    args = parser.parse_args(argv)
    pairs = [one_pair(args.epochs, args.timeout, app_first=i % 2 == 1) for i in range(max(1, args.repeats))]
    ratios = [p["ratio"] for p in pairs]
    ratio = statistics.median(ratios)
    spread = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratio] * 3
    print(f"PTB, {args.epochs} epochs, default settings, {os.cpu_count()} cores; pairs of runs, one after another:")
    for i, pair in enumerate(pairs, 1):
        cli, app = pair["cli"], pair["app"]
        print(
            f"  {i}. {pair['first']} first: command line {cli['tokens_per_s']:,.0f} tokens/s ({cli['train_s']:.1f} s), "
            f"app {app['tokens_per_s']:,.0f} ({app['train_s']:.1f} s): {pair['ratio']:.2f}; "
            f"Start to the first loss point written {app['first_point_s']:.1f} s, on the chart {app['on_page_s']:.1f} s"
        )
    print(f"  app / command line, median of {len(pairs)}: {ratio:.2f} (quartiles {spread[0]:.2f}-{spread[2]:.2f})")
    report = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "pairs": pairs, "ratio": ratio, "quartiles": spread}
    target = args.json or Path("bench-results") / f"watch-{time.strftime('%Y%m%d-%H%M%S')}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"results written to {target}")
    return 0


def one_pair(epochs: int, timeout_s: float, app_first: bool) -> dict[str, Any]:
    """One command-line run and one app run, each in a runs folder of its own (the app's Train page starts
    empty); which goes first alternates from pair to pair, so a machine slowing down favours neither."""
    with tempfile.TemporaryDirectory() as folder:
        cli_root, app_root = Path(folder) / "cli", Path(folder) / "app"
        sides = {
            "cli": lambda: command_line_run(cli_root, epochs, {**os.environ, "W2V_RUNS_DIR": str(cli_root)}),
            "app": lambda: app_run(app_root, epochs, {**os.environ, "W2V_RUNS_DIR": str(app_root)}, timeout_s),
        }
        order = ("app", "cli") if app_first else ("cli", "app")
        done = {side: sides[side]() for side in order}
    cli, app = done["cli"], done["app"]
    return {"first": order[0], "cli": cli, "app": app, "ratio": app["tokens_per_s"] / cli["tokens_per_s"]}
