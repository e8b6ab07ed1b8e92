"""Tolerant readers of a run's small files: each turns text into a checked value or a `Damaged` reason.

Any file of a run can be truncated, emptied, of the wrong JSON type, written by a newer version, hold
huge or non-numeric numbers, or be a symbolic link. These functions never raise on such input: they
say what is wrong, so a page or command can show that one run as damaged and go on with the others.
The run folder's owner (`core.runs`) turns a `Damaged` into its `RunError`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import ConfigError, TrainConfig

MAX_RECORD_BYTES = 16 << 20  # config, status and evaluation files are a few KB; past this they are not ours
MAX_PID = 2**31 - 1  # what os.kill accepts
STATUS_FIGURES = ("updated", "epochs_done", "mean_loss", "final_loss", "train_seconds", "tokens_per_s", "vocab_size")


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


def parse_status(text: str | Damaged, states: tuple[str, ...]) -> dict[str, Any] | Damaged:
    """A status record with a known state, a text message, a usable process id and finite figures.

    Keys this version does not know are kept and ignored, so a newer version's status still reads.
    """
    record = parse_object(text)
    if isinstance(record, Damaged):
        return record
    state = record.get("state")
    if state not in states:
        return Damaged(f"its state {_short(state)} is not one of {', '.join(states)}")
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
    return record


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


def _kind(value: Any) -> str:
    return {list: "list", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
