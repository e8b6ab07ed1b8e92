"""A training process started ahead of its run, so pressing Start does not wait for Python to import torch.

A fresh `python -m core train` spends seconds importing torch and numba and loading the compiled
kernel before it reads the corpus. The launcher keeps one process that has done all that waiting
on its standard input; a run's command line, its log file and the launcher's environment arrive
there as one JSON line, and from then on it is exactly `python -m core <argv>`. It ends without
training when its input closes (the launcher closed, or the server exited), at once, even in the
middle of its imports: a spare left importing after its server quit took a core for seconds from
whatever trained next. So `core.runs`, whose package it imports first, imports torch only inside functions.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

SPARE_ENV = "W2V_SPARE_PROCESS"  # "0": start every run cold (the tests do, but for the spare's own)


def wanted() -> bool:
    """Whether the launcher keeps a spare process: yes unless `$W2V_SPARE_PROCESS` is 0."""
    return os.environ.get(SPARE_ENV, "1").strip() != "0"


class Spare:
    """One waiting process and the environment it was started with (its imports read some of it)."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.env = env
        self.process = subprocess.Popen(
            [sys.executable, "-m", "core.runs.spare"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # like a cold start: the server's Ctrl-C does not reach the training
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def hand_over(self, argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen | None:
        """Make the process train `python -m core <argv>` with output to `log`; None when it cannot
        (it has ended, or `env` differs from the one its imports saw), and then it is ended."""
        if env != self.env or not self.alive():
            self.close()
            return None
        request = {"argv": argv, "log": str(log), "env": env}
        try:
            self.process.stdin.write(json.dumps(request).encode("utf-8") + b"\n")
            self.process.stdin.close()
        except OSError:
            self.close()
            return None
        return self.process

    def close(self) -> None:
        """End the process if it still waits: closing its input ends it at once, imports done or not."""
        if self.process.stdin and not self.process.stdin.closed:
            with contextlib.suppress(OSError):  # a broken pipe: it has ended already
                self.process.stdin.close()


def serve() -> int:
    """The spare's side: import and warm up while a thread waits for the one request, then run it as
    the command line would."""
    requests: queue.SimpleQueue[str] = queue.SimpleQueue()
    threading.Thread(target=_await_request, args=(requests,), daemon=True).start()
    from core.cli import main
    from core.engines.kernel_numba import warm_up

    warm_up("fast")
    request = json.loads(requests.get())
    os.environ.clear()
    os.environ.update(request["env"])
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    return main(request["argv"])


def _await_request(requests: queue.SimpleQueue[str]) -> None:
    """Hand the request line to `serve`; at the end of input, end the process whatever it is doing."""
    line = sys.stdin.readline()
    if not line.strip():
        os._exit(0)
    requests.put(line)


if __name__ == "__main__":
    raise SystemExit(serve())
