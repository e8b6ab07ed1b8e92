"""The training queue: one small file per waiting run in `<runs root>/queue/`, so it survives a restart.

Entries are named `<nanoseconds>-<run>.json`, so listing them in name order is first in, first out.
Changes happen under an `flock` on the folder's lock file, which keeps two app servers (or two
threads) from starting the same entry twice.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from core.files import UnsafeFile, open_fd, read_bytes, write_text_atomic
from core.runs.records import DamagedRecord, parse_json

FOLDER = "queue"
_LOCK = ".lock"
MAX_ENTRY_BYTES = 4096  # an entry is a run name and a count


@dataclass(frozen=True)
class QueueEntry:
    run: str
    processes: int
    path: Path


def folder(root: Path) -> Path:
    return root / FOLDER


@contextmanager
def exclusive(root: Path, create: bool = False) -> Iterator[bool]:
    """Hold the queue for a read-then-change, waiting for another holder; yields whether there is a queue.

    Only an enqueuer (`create`) makes the queue's folder, and with it the runs folder: a launcher's pump
    polls every quarter second, and a runs folder it made would outlive a Start that was refused. Without
    a queue folder nothing is queued and nothing is held: the block must then leave the queue alone.
    """
    where = folder(root)
    if create:
        where.mkdir(parents=True, exist_ok=True)
    try:
        fd = open_fd(where / _LOCK, os.O_RDWR | os.O_CREAT, limit=None)  # never a FIFO, folder or link
    except FileNotFoundError:  # no queue folder
        fd = -1
    if fd < 0:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield True
    finally:
        os.close(fd)


def push(root: Path, run: str, processes: int) -> None:
    where = folder(root)
    where.mkdir(parents=True, exist_ok=True)
    record = json.dumps({"run": run, "processes": processes})
    write_text_atomic(where / f"{time.time_ns():020d}-{run}.json", record)


def entries(root: Path) -> list[QueueEntry]:
    """Waiting runs, next first; an entry that is unreadable (also a FIFO, folder, link or huge file) or invalid is
    dropped (it must never start)."""
    where = folder(root)
    if not where.is_dir():
        return []
    found = []
    for path in sorted(where.glob("*.json")):
        try:
            found.append(parse_entry(read_bytes(path, MAX_ENTRY_BYTES), path))
        except FileNotFoundError:
            continue  # taken meanwhile
        except (UnsafeFile, DamagedRecord):
            _drop(path)
    return found


def _drop(path: Path) -> None:
    with suppress(OSError):  # a folder: left, and skipped at every listing
        path.unlink(missing_ok=True)


def parse_entry(data: bytes, path: Path) -> QueueEntry:
    """An entry checked like settings: `run` a plain folder name, `processes` a whole number of at least 1 (the
    launcher checks it against the machine); other keys are ignored. DamagedRecord says what is wrong."""
    record = parse_json(data, "queue entry")
    run, processes = record.get("run"), record.get("processes", 1)
    if not isinstance(run, str) or run in ("", ".", "..") or "/" in run or "\x00" in run:
        raise DamagedRecord(f"the queue entry's run {run!r} is not a run name")
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise DamagedRecord(f"the queue entry's processes {processes!r} is not a whole number of at least 1")
    return QueueEntry(run, processes, path)


def find(root: Path, run: str) -> QueueEntry | None:
    return next((entry for entry in entries(root) if entry.run == run), None)


def remove(root: Path, run: str) -> bool:
    """Take the run out of the queue; False when it was not in it."""
    entry = find(root, run)
    if entry is None:
        return False
    entry.path.unlink(missing_ok=True)
    return True
