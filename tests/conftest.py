"""Shared fixtures: where PTB lies, isolated run folders, and small synthetic corpora."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# GPU kernels are tested on the CPU by Triton's interpreter. Triton reads this when first imported,
# and torch may import it on its own (the book mode's fused Adam does), so it is set for the session.
os.environ["TRITON_INTERPRET"] = "1"


def ptb_data_dir() -> Path | None:
    for candidate in (os.environ.get("W2V_DATA_DIR"), ROOT.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "ptb.zip").is_file():
            return Path(candidate)
    return None


@pytest.fixture
def ptb_dir() -> Path:
    found = ptb_data_dir()
    if found is None:
        pytest.skip("ptb.zip not found: set W2V_DATA_DIR to the folder holding it")
    return found


@pytest.fixture(autouse=True)
def isolated_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes its runs and cached stores under its own temporary folder."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("W2V_RUNS_DIR", str(runs))
    monkeypatch.setenv("W2V_CACHE_DIR", str(tmp_path / "cache"))
    # A launcher's spare process costs seconds of imports: only the tests about it, and the browser
    # tests (a real server, as users run it), keep one.
    monkeypatch.setenv("W2V_SPARE_PROCESS", "0")
    return runs


def wait_for(condition, timeout: float = 60.0) -> None:
    """Poll `condition` every 50 ms until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def settle(launcher) -> None:
    """Take every queued run out and stop every training `launcher` can see, then stop its queue thread,
    so no training process outlives its test and keeps a core busy."""
    for run in launcher.queued_runs():
        launcher.cancel(run)
    for run in launcher.live_runs():
        launcher.stop(run)
    for run in launcher.live_runs():
        assert launcher.wait(run, timeout=60), f"run {run.name} did not stop"
    launcher.close()


@pytest.fixture
def launcher() -> Iterator[object]:
    """A launcher over the test's runs folder, settled afterwards."""
    from core.runs.launcher import Launcher

    made = Launcher()
    yield made
    settle(made)


@pytest.fixture(autouse=True)
def fresh_app_launcher() -> Iterator[None]:
    """App tests share one launcher per process (`st.cache_resource`); each test gets a new one."""
    yield
    common = sys.modules.get("pages.parts.common")
    if common is None:
        return
    settle(common.launcher())
    common.launcher.clear()


def synthetic_text(sentences: int = 400, seed: int = 0) -> str:
    """Sentences from a few topic groups, so words of one group share contexts."""
    rng = np.random.default_rng(seed)
    groups = [[f"{topic}{i}" for i in range(8)] for topic in ("cat", "car", "sun", "tax")]
    glue = ["the", "a", "of", "and", "is"]
    lines = []
    for _ in range(sentences):
        group = groups[rng.integers(len(groups))]
        words = [str(rng.choice(group)) if rng.random() < 0.7 else str(rng.choice(glue)) for _ in range(12)]
        lines.append(" ".join(words))
    return "\n".join(lines) + "\n"


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(synthetic_text(), encoding="utf-8")
    return path


@pytest.fixture
def lee_run(isolated_runs: Path):
    """A finished fast-mode run on gensim's Lee corpus (well under a second of training)."""
    from core.config import TrainConfig
    from core.job import train_run
    from core.runs import Run

    run = Run.create(TrainConfig(corpus="lee", min_freq=5, epochs=3), name="lee-test")
    train_run(run)
    return run


def plain(markdown: str) -> str:
    """What a Markdown body shows: its backslash escapes (`pages.parts.text.literal`) removed."""
    return re.sub(r"\\(.)", r"\1", markdown)


def open_app_page(path: str, **session: object):
    """A new AppTest session (a new browser tab) on the page at `path`, with session values set before it runs."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in session.items():
        at.session_state[key] = value
    at.switch_page(path).run()
    assert not at.exception
    return at


@contextmanager
def served(command: list[str], log_path: Path, **popen: object) -> Iterator[subprocess.Popen]:
    """A server process (yielded), its output into `log_path`, always ended afterwards; the log's tail is
    printed, which pytest shows when the test fails."""
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **popen)
        try:
            yield server
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            print(log_path.read_text(errors="replace")[-4000:])


@contextmanager
def app_server(folder: Path, env: dict[str, str], timeout_s: float = 60.0) -> Iterator[int]:
    """`streamlit run app.py` on a free port (yielded) with `env`, always ended afterwards."""
    from core.bench.watch import free_port, wait_healthy

    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    command += ["--server.port", str(port)]
    with served(command, folder / "server.log", cwd=ROOT, env=env) as server:
        wait_healthy(f"http://localhost:{port}", server, timeout_s=timeout_s)
        yield port
