"""Files the product writes and reads: atomic writes (a reader sees the old file or the new one, never half
of one) and tolerant reads of small files (`read_text`, `parse_object`: never raise, say what is wrong).

The temporary file sits beside the target and carries the writer's process id, so the temporaries a killed
writer left behind can be told from those of a writer still at work and removed at the next start.
New files get the permissions the user's umask allows, like any file they create.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_TEMPORARY = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$")
_FOREIGN_TEMPORARY = re.compile(r"^\.tmp[A-Za-z0-9]{6}$")  # safetensors' own (Rust `tempfile`) names
_UMASK_LOCK = threading.Lock()
RUNS_ENV = "W2V_RUNS_DIR"
MAX_RECORD_BYTES = 16 << 20  # config, status and evaluation files are a few KB; past this they are not ours


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
    """The UTF-8 text of a plain file; a link, a folder, a missing, huge or binary file is `Damaged`."""
    if path.is_symlink():
        return Damaged("it is a symbolic link; a run's files must be plain files")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except FileNotFoundError:
        return Damaged("it is missing")
    except OSError as exc:
        return Damaged(f"it cannot be read ({exc.strerror or exc})")
    if len(raw) > limit:
        return Damaged(f"it is larger than {limit >> 20} MB")
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
