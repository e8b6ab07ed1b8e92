"""Busy processes for `python -m core bench --busy N`: other programs sharing the cores, as users' machines do.

Each one spins in pure Python until it is ended by its process id or its parent dies, so the load
goes away however the bench ends, even if it is killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SPIN = """
import os, sys
parent = int(sys.argv[1])
while os.getppid() == parent:
    for _ in range(1_000_000):
        pass
"""


@contextmanager
def busy(count: int) -> Iterator[list[int]]:
    """Start `count` spinning processes; yield their process ids; end them on leaving, however it is left."""
    processes = [subprocess.Popen([sys.executable, "-c", SPIN, str(os.getpid())]) for _ in range(count)]
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if count else None
    try:
        yield [p.pid for p in processes]
    finally:
        for process in processes:
            process.kill()
            process.wait()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    del frame
    raise SystemExit(128 + signum)
