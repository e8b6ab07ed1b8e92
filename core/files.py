"""Files the product writes and reads: atomic writes (a reader sees the old file or the new one, never half
of one) and tolerant reads of small files (`read_text`, `parse_object`: never raise, say what is wrong).

Every file read from a folder a user can write goes through `open_fd` (or `open_regular`, `read_bytes`): it
opens without following a final symbolic link and without blocking, then refuses anything but a regular
file of at most `limit` bytes. A FIFO opened the usual way blocks until a writer comes (a server holding
the queue's lock would wait forever), and `/dev/zero` reads until memory runs out.

The temporary file sits beside the target and carries the writer's process id, so the temporaries a killed
writer left behind can be told from those of a writer still at work and removed at the next start.
New files get the permissions the user's umask allows, like any file they create.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

_TEMPORARY = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$")
_FOREIGN_TEMPORARY = re.compile(r"^\.tmp[A-Za-z0-9]{6}$")  # safetensors' own (Rust `tempfile`) names
_UMASK_LOCK = threading.Lock()
RUNS_ENV = "W2V_RUNS_DIR"
MAX_RECORD_BYTES = 16 << 20  # config, status and evaluation files are a few KB; past this they are not ours


class UnsafeFile(OSError):
    """A path that is not a regular file within its size bound; the text says what it is instead."""


def open_fd(path: Path, flags: int = os.O_RDONLY, limit: int | None = MAX_RECORD_BYTES, links: bool = False) -> int:
    """A descriptor of the regular file at `path` (at most `limit` bytes), opened in blocking mode with `flags`.

    `links`: follow a final symbolic link (a path the user typed); a run's or the queue's files never do.
    Raises UnsafeFile for a link, FIFO, socket, device or folder, or a larger file; OSError as `os.open` does.
    """
    extra = os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY | (0 if links else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags | extra, 0o666)  # a created file gets what the umask allows
    except OSError as exc:
        if exc.errno == errno.ELOOP and not links:
            raise UnsafeFile(errno.ELOOP, "it is a symbolic link; it must be a plain file") from None
        if exc.errno in (errno.EISDIR, errno.ENXIO):  # a folder opened for writing; a FIFO with no reader
            raise UnsafeFile(exc.errno, f"it is {_what(path)}, not a plain file") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(errno.EINVAL, f"it is {_kind_of(info.st_mode)}, not a plain file")
        if limit is not None and info.st_size > limit:
            raise UnsafeFile(errno.EFBIG, f"it is larger than {_size(limit)}")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(path: Path, limit: int | None = MAX_RECORD_BYTES, links: bool = False) -> BinaryIO:
    """`open(path, "rb")` for a regular file only (see `open_fd`)."""
    return os.fdopen(open_fd(path, os.O_RDONLY, limit, links), "rb")


def read_bytes(path: Path, limit: int = MAX_RECORD_BYTES) -> bytes:
    """The bytes of the regular file at `path`; UnsafeFile when it is anything else or grew past `limit`."""
    with open_regular(path, limit) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise UnsafeFile(errno.EFBIG, f"it is larger than {_size(limit)}")
    return data


def _kind_of(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))
    devices = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((name for test, name in (*kinds, *devices) if test(mode)), "not a plain file")


def _what(path: Path) -> str:
    try:
        return _kind_of(os.lstat(path).st_mode)
    except OSError:
        return "not a plain file"


def _size(limit: int) -> str:
    return f"{limit >> 20} MB" if limit >= 1 << 20 else f"{limit} bytes"


def runs_root(root: str | Path | None = None) -> Path:
    """The folder of runs: `root` if given, else $W2V_RUNS_DIR, else ./runs."""
    return Path(root or os.environ.get(RUNS_ENV) or "runs")


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, fsync it, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask applies
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask())  # a writer that replaced the file (safetensors) made it 0600
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def umask() -> int:
    """The process's umask, read without changing it where Linux allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files that killed writers left in `folder` (not those of live processes).

    Safetensors' own temporaries carry no process id; they are removed when they are over a minute old.
    Returns what was removed.
    """
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        stale = (match is not None and not _alive(int(match.group(1)))) or (
            _FOREIGN_TEMPORARY.match(entry.name) is not None and _age(entry) > 60
        )
        if stale and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid > 0
    return True


@dataclass(frozen=True)
class Damaged:
    """Why a file cannot be used; the text names the file's problem, not the file."""

    reason: str


def read_text(path: Path, limit: int = MAX_RECORD_BYTES) -> str | Damaged:
    """The UTF-8 text of a plain file; a link, a FIFO, a device, a folder, a missing, huge or binary file is
    `Damaged`."""
    try:
        raw = read_bytes(path, limit)
    except FileNotFoundError:
        return Damaged("it is missing")
    except UnsafeFile as exc:
        return Damaged(exc.strerror)
    except OSError as exc:
        return Damaged(f"it cannot be read ({exc.strerror or exc})")
    if b"\0" in raw:
        return Damaged("it holds binary data (NUL bytes)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Damaged(f"it is not UTF-8 text (byte {exc.start})")


def parse_object(text: str | Damaged) -> dict[str, Any] | Damaged:
    """A JSON object, or why the text is not one (empty, cut short, a list, `null`...)."""
    if isinstance(text, Damaged):
        return text
    if not text.strip():
        return Damaged("it is empty")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return Damaged(f"it is not valid JSON ({exc})")
    if not isinstance(value, dict):
        return Damaged(f"it holds a JSON {_kind(value)}, not an object")
    return value


def _kind(value: Any) -> str:
    return {list: "list", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")
