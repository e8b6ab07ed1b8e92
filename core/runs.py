"""Runs on disk: one folder per run holding its config, vocabulary, weights, metrics and status.

Every file is plain data (JSON, JSON lines, safetensors); nothing is ever unpickled. Writes are
atomic, so a killed process leaves the previous complete file in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from core.atomic import write_atomic, write_text_atomic
from core.config import TrainConfig, resumable_fields
from core.records import Damaged, parse_config, parse_metric_line, parse_object, parse_status, read_text
from core.vocab import Vocab

RUNS_ENV = "W2V_RUNS_DIR"
STATES = ("created", "queued", "running", "finished", "stopped", "failed", "interrupted")
# What a run in a process that is gone reads as: its training will never start or go on.
_ORPHANED = {
    "running": "the training process ended unexpectedly",
    "queued": "the app stopped before this queued run started",
}
_NAME_OK = re.compile(r"[^\w.-]+")  # \w: letters and digits of any script, and `_`
RESUMABLE_FIELDS = resumable_fields()  # the schema's `resumable` settings (core.config)


class RunError(RuntimeError):
    """A run is missing, unreadable or damaged."""


def runs_root(root: str | Path | None = None) -> Path:
    return Path(root or os.environ.get(RUNS_ENV) or "runs")


def sanitize_name(name: str) -> str:
    """A safe folder name: letters and digits of any script, `.`, `_`, `-`; no leading dot, no path parts, at most
    80 characters."""
    clean = _NAME_OK.sub("-", unicodedata.normalize("NFC", name).replace("\x00", "")).strip(".-")[:80]
    while len(clean.encode()) > 200:  # file systems allow 255 bytes per name; an upload adds a prefix
        clean = clean[:-1]
    if not clean:
        raise RunError(f"run name {name!r} has no usable characters; use letters, digits, '.', '_' or '-'")
    return clean


def save_upload(name: str, data: bytes, root: str | Path | None = None, folder: str = "uploads") -> tuple[Path, bool]:
    """Keep an uploaded file (a corpus; `folder="imports"`: vectors) as `<runs root>/<folder>/<hash>-<sanitised name>`.

    The name loses any path parts, so it cannot point outside that folder. Also says whether this
    call wrote the file (False when the same content under the same name was saved before).
    """
    where = runs_root(root) / folder
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{hashlib.sha256(data).hexdigest()[:10]}-{sanitize_name(name)}"
    if path.exists():
        return path, False
    write_atomic(path, lambda tmp: tmp.write_bytes(data))
    return path, True


class Run:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name

    # --- creation and lookup -------------------------------------------------------------
    @classmethod
    def create(cls, config: TrainConfig, name: str | None = None, root: str | Path | None = None) -> Run:
        base = runs_root(root)
        stem = sanitize_name(name or f"{time.strftime('%Y%m%d-%H%M%S')}-{Path(config.corpus).stem}-{config.mode}")
        base.mkdir(parents=True, exist_ok=True)
        for n in range(1000):
            path = base / (stem if n == 0 else f"{stem}-{n}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            run = cls(path)
            write_text_atomic(path / "config.json", config.to_json())
            run.set_status("created")
            return run
        raise RunError(f"could not find a free folder name for run {stem!r}")

    @classmethod
    def open(cls, name_or_path: str | Path, root: str | Path | None = None) -> Run:
        path = Path(name_or_path)
        if not (path / "config.json").is_file():
            path = runs_root(root) / sanitize_name(str(name_or_path))
        if not (path / "config.json").is_file():
            raise RunError(f"no run at {path}: give a run folder or the name of one under {runs_root(root)}")
        return cls(path)

    # --- config, vocabulary, status, metrics -------------------------------------------
    def config(self) -> TrainConfig:
        return self._checked("config.json", parse_config(self._read("config.json")))

    def update_config(self, **changes: Any) -> TrainConfig:
        """Change settings of RESUMABLE_FIELDS before a resume; anything else is refused."""
        fixed = sorted(set(changes) - set(RESUMABLE_FIELDS))
        if fixed:
            raise RunError(f"{', '.join(fixed)} cannot change on resume (only {', '.join(RESUMABLE_FIELDS)})")
        config = TrainConfig.from_dict({**self.config().to_dict(), **changes})
        write_text_atomic(self.path / "config.json", config.to_json())
        return config

    def save_vocab(self, vocab: Vocab) -> None:
        vocab.save(self.path / "vocab.json")

    def vocab(self) -> Vocab:
        return Vocab.load(self.path / "vocab.json")

    def set_status(self, state: str, message: str = "", **figures: Any) -> None:
        assert state in STATES, state
        record = {"state": state, "message": message, "pid": os.getpid(), "updated": time.time(), **figures}
        write_text_atomic(self.path / "status.json", json.dumps(record))

    def status(self) -> dict[str, Any]:
        """The saved status; a `running` or `queued` run whose process is gone reads as `interrupted`."""
        record = self._checked("status.json", parse_status(self._read("status.json"), STATES))
        state = record.get("state")
        if state in _ORPHANED and not _alive(record.get("pid", -1)):
            record = {**record, "state": "interrupted", "message": _ORPHANED[state]}
        return record

    def append_metric(self, record: dict[str, Any]) -> None:
        with open(self.path / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def metrics(self) -> list[dict[str, Any]]:
        path = self.path / "metrics.jsonl"
        if not path.is_file():
            return []
        text = path.read_text(encoding="utf-8", errors="replace")
        return [row for line in text.splitlines() if (row := parse_metric_line(line)) is not None]

    def truncate_metrics(self, epochs_done: int) -> None:
        """Drop metrics past the last checkpoint, so a resumed run's history has no duplicate epoch."""
        kept = [r for r in self.metrics() if r.get("epoch", 0) <= epochs_done]
        write_text_atomic(self.path / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in kept))

    # --- weights ------------------------------------------------------------------------
    def save_checkpoint(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        _save_tensors(self.path / "checkpoint.safetensors", tensors, meta)

    def load_checkpoint(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        if not (self.path / "checkpoint.safetensors").is_file():
            return None
        return _load_tensors(self.path / "checkpoint.safetensors")

    def epochs_done(self) -> int:
        """Epochs its last checkpoint holds (0 without one), read from the header alone."""
        from safetensors import safe_open

        path = self.path / "checkpoint.safetensors"
        if not path.is_file():
            return 0
        try:
            with safe_open(str(path), framework="pt") as fh:
                losses = json.loads((fh.metadata() or {}).get("meta", "{}")).get("epoch_losses")
        except (SafetensorError, OSError, ValueError, AttributeError) as exc:
            raise RunError(f"run {self.name} is damaged: its checkpoint cannot be read ({exc})") from exc
        if not isinstance(losses, list):
            raise RunError(f"run {self.name} is damaged: its checkpoint does not say how many epochs it holds")
        return len(losses)

    def save_vectors(self, center: torch.Tensor, context: torch.Tensor) -> None:
        _save_tensors(self.path / "vectors.safetensors", {"center": center, "context": context}, {})

    def has_vectors(self) -> bool:
        return (self.path / "vectors.safetensors").is_file()

    def load_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final vectors if the run finished, else those of its last checkpoint."""
        if self.has_vectors():
            tensors, _ = _load_tensors(self.path / "vectors.safetensors")
            return tensors["center"], tensors["context"]
        checkpoint = self.load_checkpoint()
        if checkpoint is None:
            raise RunError(f"run {self.name} has no vectors yet: it has not finished an epoch")
        return checkpoint[0]["center"], checkpoint[0]["context"]

    def delete(self) -> None:
        """Remove the run's folder; a run that is a symbolic link loses the link only, never what it points to."""
        if self.path.is_symlink():
            self.path.unlink()
            return
        if not self.path.is_dir():
            raise RunError(f"run {self.name} no longer exists: it was deleted")
        shutil.rmtree(self.path)

    def _read(self, name: str) -> str | Damaged:
        if self.path.is_symlink():
            return Damaged("the run folder is a symbolic link; runs must be real folders under the runs folder")
        return read_text(self.path / name)

    def _checked(self, name: str, value: Any) -> Any:
        """The value of a tolerant parse, or a RunError naming the run, the file and what is wrong with it."""
        if isinstance(value, Damaged):
            raise RunError(f"run {self.name} is damaged: {name}: {value.reason}")
        return value


@contextmanager
def kept_on_failure(run: Run) -> Iterator[None]:
    """A resume that fails before it saves a new checkpoint leaves the run's settings, status, metrics and
    vocabulary byte for byte as they were (a finished run never turns `failed` or loses its figures); the
    caller reports the error."""
    kept = {name: _bytes(run.path / name) for name in ("config.json", "status.json", "metrics.jsonl", "vocab.json")}
    stamp = _stamp(run.path / "checkpoint.safetensors")
    try:
        yield
    except BaseException:
        if _stamp(run.path / "checkpoint.safetensors") == stamp:
            for name, data in kept.items():
                if data is None:
                    (run.path / name).unlink(missing_ok=True)
                elif _bytes(run.path / name) != data:
                    write_atomic(run.path / name, lambda tmp, data=data: tmp.write_bytes(data))
        raise


def _bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def list_runs(root: str | Path | None = None) -> list[Run]:
    """Runs under the root, newest first; folders without a config are not runs and are skipped."""
    base = runs_root(root)
    if not base.is_dir():
        return []
    runs = [Run(p) for p in base.iterdir() if (p / "config.json").is_file()]
    return sorted(runs, key=lambda r: (r.path / "config.json").stat().st_mtime, reverse=True)


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Safetensors file whose metadata carries a SHA-256 of the tensor bytes, checked on load."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    header = {"meta": json.dumps(meta), "sha256": _digest(tensors)}
    write_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata=header))


def _load_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import safe_open

    if path.is_symlink() or path.parent.is_symlink():
        raise RunError(f"{path} is reached through a symbolic link; a run's files must be plain files in its folder")
    try:
        with safe_open(str(path), framework="pt") as fh:
            header = fh.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise RunError(f"{path} is damaged or truncated ({exc}); it was not loaded") from exc
    if header.get("sha256") != _digest(tensors):
        raise RunError(f"{path} fails its checksum: the file is damaged; it was not loaded")
    meta = parse_object(header.get("meta", "{}"))
    if isinstance(meta, Damaged):
        raise RunError(f"{path}: its header's metadata is damaged: {meta.reason}")
    return tensors, meta


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for key in sorted(tensors):
        digest.update(key.encode())
        digest.update(tensors[key].numpy().tobytes())
    return digest.hexdigest()


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
