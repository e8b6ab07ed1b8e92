"""Typed records of a run's files, and the one place that turns their text into records: one parser per record.

The run's files (status, config, evaluation: `parse_status`, `parse_config`, `parse_evaluation`) parse
to the record or a `core.files.Damaged` saying why not; lines of the metrics file and other small
JSON files raise `DamagedRecord` ("damaged: ..."). Neither ever lets a KeyError or TypeError out.
`MetricsReader` follows a growing metrics file, reading only the bytes appended since its last poll.
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from core.config import ConfigError, TrainConfig
from core.files import Damaged, open_regular, parse_object

STATES = ("created", "queued", "running", "finished", "stopped", "failed", "interrupted")
SMOOTHING = 0.6  # weight of the past in the moving average of the step losses (TensorBoard's default)
MAX_SMOOTHING = 0.99  # the most a chart's smoothing slider gives: at 1 the line would never move
MAX_PID = 2**31 - 1  # what os.kill accepts
STATUS_FIGURES = ("updated", "epochs_done", "mean_loss", "final_loss", "train_seconds", "tokens_per_s", "vocab_size")
CHART_POINTS = 600  # the most step points a loss chart draws, however long the run
KEPT_LINES = 4  # smoothed lines a metrics reader keeps, one per smoothing weight lately asked for
MAX_LIST_WORDS = 20  # watch words, odd-one-out words, ...: each costs a pass over the vocabulary
MAX_WORD_CHARS = 100  # no real word is longer; a longer one would make spelling suggestions crawl


class WordListError(ValueError):
    """A list of words typed by the user is longer than the app takes."""


def check_word_list(words: list[str], what: str, limit: int = MAX_LIST_WORDS) -> list[str]:
    """`words`, or WordListError when there are more than `limit` or one has more than MAX_WORD_CHARS characters."""
    if len(words) > limit:
        raise WordListError(f"at most {limit} {what}, not {len(words)}; remove {len(words) - limit}")
    if long := next((w for w in words if len(w) > MAX_WORD_CHARS), None):
        raise WordListError(f"{what} have at most {MAX_WORD_CHARS} characters; {long[:20]}... has {len(long):,}")
    return words


def smoothing_step(average: float, value: float, n: int, weight: float = SMOOTHING) -> tuple[float, float]:
    """The exponential moving average after its n-th value: the running average, and the line's point.

    As TensorBoard smooths its scalars: the point divides by 1 - weight**n (debiasing), so the first point
    is the first value. The average starts at zero, and undivided its first points would sit far below the
    losses they follow; started at the first value instead, the line stays above a falling loss for long.
    A weight of 0 draws the values themselves.
    """
    average = weight * average + (1 - weight) * value
    return average, average / (1 - weight**n) if weight else value


def smoothed(values: list[float], weight: float = SMOOTHING) -> list[float]:
    """The moving average's line over `values`, as `MetricsReader` builds it one step at a time."""
    line, average = [], 0.0
    for n, value in enumerate(values, 1):
        average, point = smoothing_step(average, value, n, weight)
        line.append(point)
    return line


class DamagedRecord(ValueError):
    """A record's text cannot be read; the message starts with "damaged:" and says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"damaged: {reason}")


@dataclass(frozen=True)
class Status:
    """What a run's status file says: its state, a message, and the figures of a training that ended."""

    state: str
    message: str = ""
    pid: int = -1
    updated: float = 0.0
    epochs_done: int | None = None
    mean_loss: float | None = None
    final_loss: float | None = None
    train_seconds: float | None = None
    tokens_per_s: float | None = None
    vocab_size: int | None = None
    device: str | None = None

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None})

    def figures(self) -> dict[str, Any]:
        """The figures of a training that ended (what `Run.set_status` takes besides state and message)."""
        return {
            k: v for k, v in asdict(self).items() if v is not None and k not in ("state", "message", "pid", "updated")
        }


@dataclass(frozen=True)
class MetricRow:
    """One progress point: `step` during an epoch, `epoch` at its end (its loss is the epoch's mean)."""

    kind: Literal["step", "epoch"]
    epoch: int
    fraction: float  # of the whole run, 0..1
    loss: float
    tokens_per_s: float
    elapsed_s: float
    eta_s: float
    time: float
    rank_tokens_per_s: tuple[float, ...] = ()  # each rank's speed at the last sync, in data-parallel runs
    centers_per_s: float | None = None  # the book's "tokens/sec": centers trained per second (absent in older runs)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["fraction"] = round(self.fraction, 6)
        if self.centers_per_s is None:
            del data["centers_per_s"]
        if self.rank_tokens_per_s:
            data["rank_tokens_per_s"] = list(self.rank_tokens_per_s)
        else:
            del data["rank_tokens_per_s"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricRow:
        kind = data.get("kind")
        if kind not in ("step", "epoch"):
            raise DamagedRecord(f"unknown metric kind {kind!r}")
        try:
            return cls(
                kind=kind,
                epoch=int(data["epoch"]),
                fraction=float(data["fraction"]),
                loss=float(data["loss"]),
                tokens_per_s=float(data["tokens_per_s"]),
                elapsed_s=float(data["elapsed_s"]),
                eta_s=float(data.get("eta_s", math.inf)),
                time=float(data.get("time", 0.0)),
                rank_tokens_per_s=tuple(float(r) for r in data.get("rank_tokens_per_s") or ()),
                centers_per_s=_maybe(float, data.get("centers_per_s")),
            )
        except KeyError as exc:
            raise DamagedRecord(f"a metric row lacks {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise DamagedRecord(f"a metric value is not a number ({exc})") from exc


@dataclass(frozen=True)
class WatchResult:
    """Current neighbours of a watched word, or the closest vocabulary words when it is unknown."""

    word: str
    neighbors: list[tuple[str, float]]
    suggestions: list[str]


@dataclass(frozen=True)
class WatchRow:
    """The watch words' neighbours, computed by the training process from its live weights."""

    results: list[WatchResult]
    time: float

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "watch", "time": self.time, "results": [asdict(r) for r in self.results]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WatchRow:
        try:
            results = [
                WatchResult(
                    str(r["word"]),
                    [(str(w), float(s)) for w, s in r["neighbors"]],
                    [str(s) for s in r["suggestions"]],
                )
                for r in data["results"]
            ]
            return cls(results, float(data.get("time", 0.0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise DamagedRecord(f"a watch row is malformed ({exc!r})") from exc


def parse_line(line: str | bytes) -> MetricRow | WatchRow:
    """One line of a metrics file as its record."""
    data = parse_json(line)
    return WatchRow.from_dict(data) if data.get("kind") == "watch" else MetricRow.from_dict(data)


def parse_json(text: str | bytes, what: str = "record") -> dict[str, Any]:
    """A JSON object, or DamagedRecord naming `what` was wrong with it."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise DamagedRecord(f"the {what} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise DamagedRecord(f"the {what} is not a JSON object")
    return data


def _maybe(kind: type, value: Any) -> Any:
    return None if value is None else kind(value)


@dataclass
class MetricsReader:
    """Follows one metrics file: each `poll` reads only the bytes appended since the last one.

    It keeps what the pages draw: step losses with their moving average at each weight a chart asked for
    (extended by the new rows only), epoch rows, the last row and the latest watch row. A file
    replaced by a shorter one (a resume drops the epochs after its checkpoint) is read afresh.
    Damaged lines are counted and skipped; a line still being written waits for its newline. Something
    other than a plain file where the metrics belong (a folder, a FIFO, a link) reads as no rows, with
    the reason in `problem`.
    """

    path: Path
    offset: int = 0
    bytes_read: int = 0
    damaged: int = 0
    fractions: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    epochs: list[MetricRow] = field(default_factory=list)
    last: MetricRow | None = None
    watch: WatchRow | None = None
    problem: str = ""
    _inode: int | None = None
    _lines: dict[float, tuple[float, list[float]]] = field(default_factory=dict)  # weight: (average, line)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def poll(self) -> int:
        """Read what was appended since the last poll; returns how many rows were added."""
        with self._lock:
            try:
                fh = open_regular(self.path, limit=None)
            except FileNotFoundError:
                if self._inode is not None:
                    self._reset(None)
                return 0
            except OSError as exc:
                self._reset(None)
                self.problem = exc.strerror or str(exc)
                return 0
            with fh:
                chunk = self._appended(fh)
            self.bytes_read += len(chunk)
            complete = chunk.rfind(b"\n") + 1
            self.offset += complete
            return self._take(chunk[:complete].splitlines())

    def _appended(self, fh: BinaryIO) -> bytes:
        stat = os.fstat(fh.fileno())
        if stat.st_ino != self._inode or stat.st_size < self.offset:
            self._reset(stat.st_ino)
        fh.seek(self.offset)
        return fh.read(stat.st_size - self.offset)

    def _reset(self, inode: int | None) -> None:
        self.offset = self.damaged = 0
        self.problem = ""
        self.fractions, self.losses, self.epochs = [], [], []
        self.last, self.watch = None, None
        self._lines = {}
        self._inode = inode

    def _take(self, lines: list[bytes]) -> int:
        """Fold parsed lines in. Step rows, nearly all of a long run, keep two floats each: the full record
        is built only for the newest row, which is what a page shows besides the curve."""
        added, newest = 0, None
        for line in lines:
            try:
                data = parse_json(line)
                kind = data.get("kind")
                if kind == "step":
                    point = (float(data["fraction"]), float(data["loss"]))
                    newest = data
                elif kind == "watch":
                    self.watch = WatchRow.from_dict(data)
                else:
                    row = MetricRow.from_dict(data)
                    self.epochs.append(row)
                    newest = row
            except (DamagedRecord, KeyError, TypeError, ValueError):
                self.damaged += 1
                continue
            added += 1
            if kind == "step":
                self.fractions.append(point[0])
                self.losses.append(point[1])
        if newest is not None:
            self._set_last(newest)
        return added

    def _set_last(self, newest: MetricRow | dict[str, Any]) -> None:
        try:
            self.last = newest if isinstance(newest, MetricRow) else MetricRow.from_dict(newest)
        except DamagedRecord:
            self.damaged += 1

    @property
    def steps(self) -> int:
        return len(self.losses)

    def smoothed(self, weight: float = SMOOTHING) -> list[float]:
        """The moving average's line over every step loss at `weight` (as `smoothed` computes it), extended by the
        rows read since it was last asked for; the lines of the last few weights asked for are kept."""
        with self._lock:
            average, line = self._lines.pop(weight, (0.0, []))
            for n in range(len(line), len(self.losses)):
                average, point = smoothing_step(average, self.losses[n], n + 1, weight)
                line.append(point)
            if len(self._lines) >= KEPT_LINES:
                self._lines.pop(next(iter(self._lines)))
            self._lines[weight] = (average, line)
            return line

    def chart_points(
        self, limit: int = CHART_POINTS, weight: float = SMOOTHING
    ) -> tuple[list[float], list[float], list[float]]:
        """At most `limit` step points (fraction, loss, smoothed loss), evenly spaced, the newest always in;
        the line is smoothed over every step, not over the points drawn."""
        line = self.smoothed(weight)
        picks = bounded_indices(len(line), limit)
        return (
            [self.fractions[i] for i in picks],
            [self.losses[i] for i in picks],
            [line[i] for i in picks],
        )


def bounded_indices(n: int, limit: int = CHART_POINTS) -> list[int]:
    """At most `limit` of the indices 0..n-1, evenly spaced, the last one always included."""
    if n <= limit:
        return list(range(n))
    stride = (n - 1) / (limit - 1)
    return [round(i * stride) for i in range(limit)]


def parse_config(text: str | Damaged) -> TrainConfig | Damaged:
    """A run's settings; an unknown setting (a newer version's) or an out-of-range value is `Damaged`."""
    data = parse_object(text)
    if isinstance(data, Damaged):
        return data
    try:
        return TrainConfig.from_dict(data)
    except ConfigError as exc:
        return Damaged(f"setting {exc}")
    except (TypeError, ValueError, OverflowError) as exc:
        return Damaged(f"its settings cannot be read ({exc})")


def parse_status(text: str | Damaged) -> Status | Damaged:
    """A status with a known state, a text message, a usable process id and finite figures.

    Keys this version does not know are ignored, so a newer version's status still reads.
    """
    record = parse_object(text)
    if isinstance(record, Damaged):
        return record
    damage = _status_damage(record)
    if damage is not None:
        return damage
    try:
        return Status(
            state=record["state"],
            message=record.get("message", ""),
            pid=record.get("pid", -1),
            updated=float(record.get("updated", 0.0)),
            epochs_done=_maybe(int, record.get("epochs_done")),
            mean_loss=_maybe(float, record.get("mean_loss")),
            final_loss=_maybe(float, record.get("final_loss")),
            train_seconds=_maybe(float, record.get("train_seconds")),
            tokens_per_s=_maybe(float, record.get("tokens_per_s")),
            vocab_size=_maybe(int, record.get("vocab_size")),
            device=record.get("device"),
        )
    except (TypeError, ValueError, OverflowError) as exc:  # a whole count given as NaN or infinity
        return Damaged(f"a figure is not a number ({exc})")


def _status_damage(record: dict[str, Any]) -> Damaged | None:
    state = record.get("state")
    if state not in STATES:
        return Damaged(f"its state {_short(state)} is not one of {', '.join(STATES)}")
    if not isinstance(record.get("message", ""), str):
        return Damaged("its message is not text")
    pid = record.get("pid", 0)
    if not _whole(pid) or not 0 <= pid <= MAX_PID:
        return Damaged(f"its process id {_short(pid)} is not a whole number between 0 and {MAX_PID}")
    for key in STATUS_FIGURES:  # NaN is how a run stopped before its first epoch reports its mean loss
        value = record.get(key)
        if value is not None and not (_finite(value) or (isinstance(value, float) and not math.isfinite(value))):
            return Damaged(f"its {key} {_short(value)} is not a number")
    if "device" in record and not isinstance(record["device"], str):
        return Damaged("its device is not text")
    return None


def parse_evaluation(text: str | Damaged, pair_sets: tuple[str, ...]) -> dict[str, Any] | Damaged:
    """An evaluation report's plain data: one result per pair set, analogy sections with whole counts."""
    data = parse_object(text)
    if isinstance(data, Damaged):
        return data
    pairs, sections = data.get("pairs"), data.get("analogies")
    if not isinstance(pairs, list) or [p.get("name") if isinstance(p, dict) else None for p in pairs] != list(
        pair_sets
    ):
        return Damaged(f"its word-pair results are not one each of {', '.join(pair_sets)}")
    for pair in pairs:
        spearman = pair.get("spearman")
        if spearman is not None and not _finite(spearman):
            return Damaged(f"{pair['name']}'s Spearman {_short(spearman)} is not a number")
        if not (_whole(pair.get("covered")) and _whole(pair.get("total"))):
            return Damaged(f"{pair['name']}'s pair counts are not whole numbers")
        oov = pair.get("oov")
        if oov is not None and not (isinstance(oov, list) and all(_word_pair(p) for p in oov)):
            return Damaged(f"{pair['name']}'s out-of-vocabulary pairs are not pairs of words")
    counts = ("questions", "total", "correct_add", "correct_mul")
    if not isinstance(sections, list) or not all(
        isinstance(s, dict) and isinstance(s.get("name"), str) and all(_whole(s.get(c)) for c in counts)
        for s in sections
    ):
        return Damaged("its analogy sections are not named sections with whole counts")
    for key, check in (("source", _text), ("table", _text), ("words", _whole), ("dim", _whole)):
        if not check(data.get(key)):
            return Damaged(f"its {key} {_short(data.get(key))} is not valid")
    if not _finite(data.get("evaluated_at", 0)):
        return Damaged("its evaluation time is not a number")
    return data


def vectors_match(words: int, rows: int, other_rows: int | None = None) -> Damaged | None:
    """A vocabulary and its vectors must have one row per word (both tables, when there are two)."""
    for table, n in (("center", rows), ("context", other_rows)):
        if n is not None and n != words:
            return Damaged(f"the vocabulary holds {words} words but the {table} vectors have {n} rows")
    return None


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _word_pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(w, str) for w in value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
