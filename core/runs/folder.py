"""Runs on disk: one folder per run holding its config, vocabulary, weights, metrics and status.

This module is the only code that knows the file names inside a run folder; everything else asks
a `Run`. Every file is plain data (JSON, JSON lines, safetensors); nothing is ever unpickled. Writes
are atomic, so a killed process leaves the previous complete file in place. A run is found by its
exact folder name under the runs folder (never in the working directory), or by the path of its folder.
Every path a run keeps is absolute, so each process reads the same files whatever its working directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import time
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from safetensors import SafetensorError

from core.config import TrainConfig, resumable_fields
from core.data.corpora import BUILT_IN
from core.data.vocab import Vocab
from core.files import (
    Damaged,
    UnsafeFile,
    open_fd,
    open_regular,
    parse_object,
    read_bytes,
    read_text,
    runs_root,
    write_atomic,
    write_text_atomic,
)
from core.runs import lock, queue
from core.runs.records import (
    MAX_LIST_WORDS,
    MAX_WORD_CHARS,
    STATES,
    DamagedRecord,
    MetricRow,
    MetricsReader,
    Status,
    WatchRow,
    check_word_list,
    parse_config,
    parse_json,
    parse_line,
    parse_status,
)

if TYPE_CHECKING:  # torch is imported where weights are read or written: the spare process imports this module
    import torch

CONFIG, STATUS, METRICS, VOCAB = "config.json", "status.json", "metrics.jsonl", "vocab.json"
CHECKPOINT, VECTORS, EVALUATION = "checkpoint.safetensors", "vectors.safetensors", "evaluation.json"
EVALUATION_TABLES = ("center", "context", "sum")  # each table's report has its own file
LOCK, STOP, LOG, WATCH = "train.lock", "stop.request", "launch.log", "watch.json"
# TensorBoard reads the run folder as a log directory: its writer names the event files (this prefix, then the
# time, host and process), its projector reads the config, which names the run's final vectors as a TSV pair.
EVENTS, PROJECTOR_CONFIG = "events.out.tfevents.", "projector_config.pbtxt"
PROJECTOR_VECTORS, PROJECTOR_WORDS = "vectors.tsv", "metadata.tsv"
# Folders the runs folder keeps for itself: never run names.
RESERVED = frozenset({"uploads", "imports", queue.FOLDER})
_NAME_OK = re.compile(r"[^\w.-]+")  # \w: letters and digits of any script, and `_`
RESUMABLE_FIELDS = resumable_fields()  # the schema's `resumable` settings (core.config)
MAX_METRICS_BYTES = 1 << 30  # 200 k rows are about 30 MB
LOG_TAIL_BYTES = 64 << 10
FOLLOWS = "follows"  # final vectors' header: the checksum of the checkpoint they were written after
WHERE = "the runs folder is --run-dir, else $W2V_RUNS_DIR, else ./runs; or give the path of the run's folder"


class RunError(RuntimeError):
    """A run is missing, unreadable or damaged."""


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
    where = base_folder(root) / folder
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{hashlib.sha256(data).hexdigest()[:10]}-{sanitize_name(name)}"
    if path.is_file() and not path.is_symlink():
        return path, False  # a FIFO or a link someone put under this name is replaced, never read as the upload
    write_atomic(path, lambda tmp: tmp.write_bytes(data))
    return path, True


def base_folder(root: str | Path | None = None) -> Path:
    """The runs folder as an absolute path, resolved against this process's working directory now: a training
    process started elsewhere must read the same folder."""
    return Path(os.path.abspath(runs_root(root)))


def with_absolute_paths(config: TrainConfig) -> TrainConfig:
    """`config` with a corpus file's path made absolute against this process's working directory, so the
    training process reads the file the check read."""
    if config.corpus in BUILT_IN or Path(config.corpus).is_absolute():
        return config
    return config.replace(corpus=os.path.abspath(config.corpus))


class Run:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name

    # --- creation and lookup -------------------------------------------------------------
    @classmethod
    def create(cls, config: TrainConfig, name: str | None = None, root: str | Path | None = None) -> Run:
        """A new run folder; its name is `name` sanitised, with `-N` added if taken: callers report `run.name`."""
        base = base_folder(root)
        stem = sanitize_name(name or f"{time.strftime('%Y%m%d-%H%M%S')}-{Path(config.corpus).stem}-{config.mode}")
        _refuse_reserved(stem)
        base.mkdir(parents=True, exist_ok=True)
        for n in range(1000):
            path = base / (stem if n == 0 else f"{stem}-{n}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            run = cls(path)
            write_text_atomic(path / CONFIG, with_absolute_paths(config).to_json())
            run.set_status("created")
            return run
        raise RunError(f"could not find a free folder name for run {stem!r}")

    @classmethod
    def open(cls, name: str | Path, root: str | Path | None = None) -> Run:
        """The run whose folder under the runs folder is exactly `name`, or the run folder at a path (anything with a
        folder part, `.` and `..` too): its parent then acts as its runs folder.

        A name is never sanitised to find a run: `a?b` would open `a-b`, another run than the one asked for.
        """
        text = str(name)
        if os.sep in text or text in (".", ".."):
            return cls._at(Path(text))
        base = base_folder(root)
        if text and text not in RESERVED and "\x00" not in text and (base / text / CONFIG).is_file():
            return cls(base / text)
        raise RunError(_no_run(text, base))

    @classmethod
    def _at(cls, given: Path) -> Run:
        path = Path(os.path.abspath(given))
        if path.name in RESERVED or not (path / CONFIG).is_file():
            raise RunError(f"{given} is not a run folder (it holds no {CONFIG}); {WHERE}")
        return cls(path)

    @property
    def root(self) -> Path:
        return self.path.parent

    # --- config, vocabulary ------------------------------------------------------------------
    def config(self) -> TrainConfig:
        return self._checked(CONFIG, parse_config(self._read(CONFIG)))

    def update_config(self, **changes: Any) -> TrainConfig:
        """Change settings of RESUMABLE_FIELDS before a resume; anything else is refused."""
        return self.save_config(resumed_config(self.config(), changes))

    def save_config(self, config: TrainConfig) -> TrainConfig:
        write_text_atomic(self.path / CONFIG, config.to_json())
        return config

    def save_vocab(self, vocab: Vocab) -> None:
        vocab.save(self.path / VOCAB)

    def vocab(self) -> Vocab:
        return Vocab.load(self.path / VOCAB)

    # --- who trains it: lock, status, queue, stop requests ----------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run's training lock, or refuse at once naming the run and its holder."""
        try:
            with lock.hold(self.path / LOCK):
                yield
        except lock.LockHeld as exc:
            who = f"process {exc.pid}" if exc.pid else "another process"
            raise RunError(
                f"run {self.name} is being trained by {who}; wait for it to end or stop it ({self.stop_hint()})"
            ) from None
        except UnsafeFile as exc:
            raise RunError(f"run {self.name} is damaged: {LOCK}: {exc.strerror}") from None

    def stop_hint(self) -> str:
        """How a user stops the run's training: what every message that says to stop it names."""
        return f"Stop in the app, or `python -m core stop {self.path}`"

    def is_training(self) -> bool:
        """True while a process holds the run's lock: the only test of "running"."""
        return lock.is_held(self.path / LOCK)

    def is_queued(self) -> bool:
        return queue.find(self.root, self.name) is not None

    def leave_queue(self) -> bool:
        return queue.remove(self.root, self.name)

    def set_status(self, state: str, message: str = "", **figures: Any) -> None:
        assert state in STATES, state
        record = Status(state, message, os.getpid(), time.time(), **figures)
        write_text_atomic(self.path / STATUS, record.to_json())

    def saved_status(self) -> Status:
        return self._checked(STATUS, parse_status(self._read(STATUS)))

    def status(self) -> Status:
        """The saved status, checked against the lock and the queue: a `running` run whose lock nobody
        holds, or a `queued` one without a place in the queue, reads as `interrupted`."""
        status = self.saved_status()
        if self.is_training():
            starting = status.state in ("created", "queued", "interrupted")
            return replace(status, state="running", message="starting") if starting else status
        if status.state == "running":
            return replace(status, state="interrupted", message="the training process ended unexpectedly")
        if status.state == "queued" and not self.is_queued():
            return replace(status, state="interrupted", message="it left the queue without starting")
        return status

    def request_stop(self) -> None:
        """Ask the process training this run (any kind: one process or torchrun) to stop after its current step."""
        (self.path / STOP).touch()

    def clear_stop(self) -> None:
        try:
            (self.path / STOP).unlink(missing_ok=True)
        except OSError as exc:  # a folder in its place
            raise RunError(f"run {self.name} is damaged: {STOP} cannot be removed ({exc.strerror})") from None

    def stop_flag(self, stop: threading.Event | None = None) -> StopFlag:
        return StopFlag(self.path / STOP, stop)

    def log_path(self) -> Path:
        """Where a launched training process writes its output."""
        return self.path / LOG

    def open_log(self) -> BinaryIO:
        """The launch log, opened for appending; RunError when something other than a plain file is in its place
        (a FIFO would block the launcher until someone reads it)."""
        try:
            return os.fdopen(open_fd(self.log_path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, limit=None), "ab")
        except UnsafeFile as exc:
            raise RunError(f"run {self.name} is damaged: {LOG}: {exc.strerror}") from None

    def log_tail(self, lines: int = 5) -> str:
        return " | ".join(self._log_lines()[-lines:])

    def last_error(self) -> str:
        """The last error the command line wrote to the log (`error: ...`, without the prefix): one line, even when
        earlier attempts wrote the same error before it; the log's last lines when it holds none."""
        errors = [line[len("error: ") :] for line in self._log_lines() if line.startswith("error: ")]
        return errors[-1] if errors else self.log_tail()

    def _log_lines(self) -> list[str]:
        """The lines of the log's last LOG_TAIL_BYTES; none when it cannot be read."""
        try:
            with open_regular(self.log_path(), limit=None) as fh:
                fh.seek(max(0, os.fstat(fh.fileno()).st_size - LOG_TAIL_BYTES))
                text = fh.read(LOG_TAIL_BYTES).decode("utf-8", errors="replace")
        except OSError:
            text = ""
        return text.strip().splitlines()

    # --- metrics and watch words ---------------------------------------------------------------
    def append_metric(self, row: MetricRow | WatchRow) -> None:
        with open(self.path / METRICS, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row.to_dict()) + "\n")

    def has_metrics(self) -> bool:
        return (self.path / METRICS).is_file()

    def metrics_reader(self) -> MetricsReader:
        """A reader of this run's metrics that reads only what was appended since its last poll."""
        return MetricsReader(self.path / METRICS)

    def metrics(self) -> list[MetricRow]:
        """Every readable loss row (watch rows and damaged lines left out)."""
        return [row for row in self._metric_lines() if isinstance(row, MetricRow)]

    def _metric_lines(self) -> list[MetricRow | WatchRow]:
        try:
            data = read_bytes(self.path / METRICS, MAX_METRICS_BYTES)
        except OSError:  # missing, or not a plain file: no rows
            return []
        rows = []
        for line in data.splitlines():
            try:
                rows.append(parse_line(line))
            except DamagedRecord:
                continue  # e.g. a line cut short by a killed process
        return rows

    def truncate_metrics(self, epochs_done: int) -> None:
        """Drop metrics past the last checkpoint, so a resumed run's history has no duplicate epoch."""
        kept = [r for r in self.metrics() if r.epoch <= epochs_done]
        write_text_atomic(self.path / METRICS, "".join(json.dumps(r.to_dict()) + "\n" for r in kept))

    def set_watch_words(self, words: list[str]) -> None:
        """The words whose neighbours the training process reports while it trains (at most MAX_LIST_WORDS)."""
        write_text_atomic(self.path / WATCH, json.dumps({"words": check_word_list(words, "watch words")}))

    def watch_words(self) -> tuple[list[str], float]:
        """The watch words and when they were set (0 when none were); a file written by hand with more
        or longer words than `set_watch_words` takes gives its first MAX_LIST_WORDS words of a valid length."""
        path = self.path / WATCH
        try:
            stamp = path.stat().st_mtime
            words = [str(w) for w in parse_json(read_bytes(path), "watch words file")["words"]]
            return [w for w in words if len(w) <= MAX_WORD_CHARS][:MAX_LIST_WORDS], stamp
        except (OSError, DamagedRecord, KeyError, TypeError):
            return [], 0.0

    # --- evaluation ----------------------------------------------------------------------------
    def _evaluation_path(self, table: str) -> Path:
        if table not in EVALUATION_TABLES:
            raise RunError(f"unknown table {table!r}; choose one of {', '.join(EVALUATION_TABLES)}")
        return self.path / (EVALUATION if table == "center" else f"evaluation-{table}.json")

    def save_evaluation(self, report: dict[str, Any], table: str = "center") -> None:
        write_text_atomic(self._evaluation_path(table), json.dumps(report, indent=1))

    def evaluation_text(self, table: str = "center") -> str | Damaged | None:
        """The saved report of `table` as text (a `Damaged` reason if unreadable), or None if never evaluated or
        if the run's current vectors were written after it (it scored vectors the run no longer has)."""
        path = self._evaluation_path(table)
        if not path.exists() and not path.is_symlink():
            return None
        if _mtime(path) < self.vectors_stamp():
            return None
        return read_text(path)

    # --- weights ------------------------------------------------------------------------
    def save_checkpoint(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Write a new checkpoint; final vectors of an earlier finish (and their projector files) no longer follow
        it and are removed."""
        _save_tensors(self.path / CHECKPOINT, tensors, meta)
        for name in (VECTORS, PROJECTOR_CONFIG, PROJECTOR_VECTORS, PROJECTOR_WORDS):
            (self.path / name).unlink(missing_ok=True)

    def has_checkpoint(self) -> bool:
        return (self.path / CHECKPOINT).is_file()

    def epochs_done(self) -> int:
        """Epochs its last checkpoint holds (0 without one), read from the header alone."""
        path = self.path / CHECKPOINT
        if not path.is_file():
            return 0
        try:
            losses = json.loads(_header(path).get("meta", "{}")).get("epoch_losses")
        except (SafetensorError, OSError, ValueError, AttributeError) as exc:
            raise RunError(f"run {self.name} is damaged: its checkpoint cannot be read ({exc})") from exc
        if not isinstance(losses, list):
            raise RunError(f"run {self.name} is damaged: its checkpoint does not say how many epochs it holds")
        return len(losses)

    def load_checkpoint(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        if not self.has_checkpoint():
            return None
        return _load_tensors(self.path / CHECKPOINT)

    def save_vectors(self, center: torch.Tensor, context: torch.Tensor) -> None:
        """The final vectors, marked with the checkpoint they follow (see `current_vectors`)."""
        follows = _checksum(self.path / CHECKPOINT)
        _save_tensors(self.path / VECTORS, {"center": center, "context": context}, {}, {FOLLOWS: follows or ""})

    def current_vectors(self) -> Path | None:
        """The one rule for which file holds the run's current vectors: its final vectors when they were written
        after its latest checkpoint (their header names that checkpoint), else that checkpoint, else none.
        Every reader (command line, pages, evaluation, export) goes through it."""
        vectors, checkpoint = self.path / VECTORS, self.path / CHECKPOINT
        if vectors.is_file() and (not checkpoint.is_file() or _follows(vectors, checkpoint)):
            return vectors
        return checkpoint if checkpoint.is_file() else None

    def has_vectors(self) -> bool:
        """True when the run's current vectors are final ones (it finished and has not trained since)."""
        return self.current_vectors() == self.path / VECTORS

    def vectors_stamp(self) -> float:
        """Modification time of the file `load_vectors` reads (0 when none), so a cache sees new weights."""
        path = self.current_vectors()
        return 0.0 if path is None else _mtime(path)

    def load_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The run's current vectors (`current_vectors`): final ones, or those of its last checkpoint."""
        path = self.current_vectors()
        if path is None:
            raise RunError(f"run {self.name} has no vectors yet: it has not finished an epoch")
        tensors, _ = _load_tensors(path)
        return tensors["center"], tensors["context"]

    # --- TensorBoard -------------------------------------------------------------------------
    def board_folder(self) -> Path:
        """The run's TensorBoard log directory: the run folder itself, so `tensorboard --logdir <runs folder>`
        names each run as the app does."""
        return self.path

    def event_files(self) -> list[Path]:
        """TensorBoard's event files of this run, oldest first (one per training session)."""
        return sorted(self.path.glob(EVENTS + "*"))

    def projector_files(self) -> tuple[Path, Path]:
        """Where the run's final vectors go as the Projector's pair: vectors, then words."""
        return self.path / PROJECTOR_VECTORS, self.path / PROJECTOR_WORDS

    def save_projector_config(self, text: str) -> None:
        write_text_atomic(self.path / PROJECTOR_CONFIG, text)

    def delete(self) -> None:
        """Delete the folder while holding the run's lock, so no training can start on it meanwhile; a run that is
        a symbolic link loses the link only, never what it points to."""
        if self.path.is_symlink():
            self.path.unlink()
            return
        if not self.path.is_dir():
            raise RunError(f"run {self.name} no longer exists: it was deleted")
        with self.lock():
            self.leave_queue()
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
def kept_on_failure(run: Run) -> Iterator[TrainConfig]:
    """A resume that fails before it saves a new checkpoint leaves the run's settings, status, metrics and
    vocabulary byte for byte as they were (a finished run never turns `failed` or loses its figures); the
    caller reports the error. Yields the run's settings, parsed from the bytes kept: config.json is read once."""
    text = run._read(CONFIG)
    config = run._checked(CONFIG, parse_config(text))
    kept = {name: _bytes(run.path / name) for name in (STATUS, METRICS, VOCAB)}
    kept[CONFIG] = text.encode("utf-8")
    stamp = _stamp(run.path / CHECKPOINT)
    try:
        yield config
    except BaseException:
        if _stamp(run.path / CHECKPOINT) == stamp:
            for name, data in kept.items():
                if data is None:
                    (run.path / name).unlink(missing_ok=True)
                elif _bytes(run.path / name) != data:
                    write_atomic(run.path / name, lambda tmp, data=data: tmp.write_bytes(data))
        raise


def _bytes(path: Path) -> bytes | None:
    try:
        return read_bytes(path, MAX_METRICS_BYTES)
    except OSError:
        return None


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


class StopFlag(threading.Event):
    """`stop`, also raised by the run's stop-request file: another process can ask a run to stop."""

    def __init__(self, path: Path, stop: threading.Event | None) -> None:
        super().__init__()
        self.stop = stop or threading.Event()
        self.path = path

    def is_set(self) -> bool:
        return self.stop.is_set() or self.path.exists()


def list_runs(root: str | Path | None = None) -> list[Run]:
    """Runs under the root, newest first; folders without a config, or that the root keeps for itself, are skipped."""
    base = base_folder(root)
    if not base.is_dir():
        return []
    runs = [Run(p) for p in base.iterdir() if p.name not in RESERVED and (p / CONFIG).is_file()]
    return sorted(runs, key=lambda r: (r.path / CONFIG).stat().st_mtime, reverse=True)


def check_resumable(changes: Iterable[str]) -> None:
    """Refuse settings a resume cannot change (those outside RESUMABLE_FIELDS)."""
    fixed = sorted(set(changes) - set(RESUMABLE_FIELDS))
    if fixed:
        raise RunError(f"{', '.join(fixed)} cannot change on resume (only {', '.join(RESUMABLE_FIELDS)})")


def resumed_config(config: TrainConfig, changes: Mapping[str, Any]) -> TrainConfig:
    """`config` with the settings a resume changes; anything else is refused."""
    check_resumable(changes)
    return TrainConfig.from_dict({**config.to_dict(), **changes})


def _no_run(name: str, base: Path) -> str:
    """Why no run answers to `name`, where it looked, how to reach a run elsewhere, and the stored name it may mean."""
    message = f"no run named {name!r} under {base} ({WHERE})"
    try:
        stored = sanitize_name(name)
    except RunError:
        return message
    if stored != name and stored not in RESERVED and (base / stored / CONFIG).is_file():
        message += f"; a run is stored as {stored!r}: give that name"
    return message


def _refuse_reserved(name: str) -> None:
    if name in RESERVED:
        raise RunError(f"{name!r} is a folder the runs folder keeps for itself; choose another run name")


def _save_tensors(
    path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any], extra: dict[str, str] | None = None
) -> None:
    """Safetensors file whose metadata carries a SHA-256 of the tensor bytes, checked on load."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    header = {**(extra or {}), "meta": json.dumps(meta), "sha256": _digest(tensors)}
    write_atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata=header))


def _header(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return fh.metadata() or {}


def _checksum(path: Path) -> str | None:
    """The tensor checksum a weights file's header holds; None when it has none or cannot be read."""
    try:
        return _header(path).get("sha256")
    except (SafetensorError, OSError, ValueError):
        return None


def _follows(vectors: Path, checkpoint: Path) -> bool:
    """Whether final vectors were written after this checkpoint. Where a header cannot be read, the vectors
    count as following (loading them reports their damage; a damaged checkpoint leaves them the best there
    is); vectors written before headers named their checkpoint follow it if they are not older."""
    try:
        follows = _header(vectors).get(FOLLOWS)
    except (SafetensorError, OSError, ValueError):
        return True
    if follows is None:
        return _mtime(vectors) >= _mtime(checkpoint)
    latest = _checksum(checkpoint)
    return latest is None or follows == latest


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _load_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    from safetensors import safe_open
    from safetensors.torch import load_file

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
