"""An exclusive lock per run: the process that trains a run holds it, and the OS drops it when that process ends.

"Is this run training" means "is its lock held", which a reused PID cannot fake. The lock is an
open-file-description lock (Linux `F_OFD_SETLK`) on a file in the run folder: it conflicts with any
other holder, another thread of the same process included. `is_held` asks the kernel (`F_OFD_GETLK`)
without taking anything: a probe that took a shared lock, as this module's `flock` did, could make
a training process that started at that instant give up its run. The file is opened by
`core.files.open_fd`: a FIFO, folder or link in its place is refused (`UnsafeFile`), never waited on.
"""

from __future__ import annotations

import fcntl
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.files import UnsafeFile, open_fd, read_bytes

_FLOCK = "hhqqi4x"  # struct flock: type, whence, start, length (0: the whole file), pid


class LockHeld(RuntimeError):
    """Another holder has the lock; `pid` is the process that wrote itself into the file, if known."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(f"held by process {pid}" if pid else "held by another process")
        self.pid = pid


@contextmanager
def hold(path: Path) -> Iterator[None]:
    """Hold the lock at `path` for the block; raise LockHeld at once if anyone else holds it, UnsafeFile when
    something other than a plain file is in its place."""
    fd = open_fd(path, os.O_RDWR | os.O_CREAT, limit=None)
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
    except OSError:
        os.close(fd)
        raise LockHeld(holder(path)) from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def is_held(path: Path) -> bool:
    """True while some process (this one included) holds the lock at `path`; nobody can hold one that is not a
    plain file (`hold` refuses it)."""
    try:
        fd = open_fd(path, os.O_RDONLY, limit=None)
    except (FileNotFoundError, UnsafeFile):
        return False
    try:
        found = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, struct.pack(_FLOCK, fcntl.F_RDLCK, os.SEEK_SET, 0, 0, 0))
    finally:
        os.close(fd)
    return struct.unpack(_FLOCK, found)[0] != fcntl.F_UNLCK


def holder(path: Path) -> int | None:
    """The PID the holder wrote into the lock file (for messages only; the lock itself decides)."""
    try:
        text = read_bytes(path, limit=64).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None
