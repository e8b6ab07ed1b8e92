"""An exclusive lock per run: the process that trains a run holds it, and the OS drops it when that process ends.

"Is this run training" means "is its lock held", which a reused PID cannot fake. The lock is an
`flock` on a file in the run folder; inside one process it is re-entrant, so the command line can
take it before it changes a run's settings and the pipeline again around the training.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_held: dict[Path, tuple[int, int]] = {}  # lock file -> (open descriptor, depth) held by this process
_guard = threading.Lock()
_TRIES = 5


class LockHeld(RuntimeError):
    """Another holder has the lock; `pid` is the process that wrote itself into the file, if known."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(f"held by process {pid}" if pid else "held by another process")
        self.pid = pid


@contextmanager
def hold(path: Path) -> Iterator[None]:
    """Hold the lock at `path` for the block; raise LockHeld at once if someone else holds it."""
    key = path.resolve()
    with _guard:
        if key in _held:
            fd, depth = _held[key]
            _held[key] = (fd, depth + 1)
        else:
            _held[key] = (_take(path), 1)
    try:
        yield
    finally:
        with _guard:
            fd, depth = _held[key]
            if depth > 1:
                _held[key] = (fd, depth - 1)
            else:
                del _held[key]
                os.close(fd)  # closing the descriptor releases the lock


def _take(path: Path) -> int:
    """Lock at once, or LockHeld; a few quick retries ride out a probe of `is_held` at the same instant."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # the umask decides, as for every file
    for attempt in range(_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if attempt == _TRIES - 1:
                os.close(fd)
                raise LockHeld(holder(path)) from None
            time.sleep(0.02)
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def is_held(path: Path) -> bool:
    """True while some process (this one included) holds the lock at `path`."""
    if path.resolve() in _held:
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def holder(path: Path) -> int | None:
    """The PID the holder wrote into the lock file (for messages only; the lock itself decides)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None
