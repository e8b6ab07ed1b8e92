"""The one object that holds every hyperparameter of a training run.

The UI, the command line and saved runs all build a :class:`TrainConfig`; its
validation is the single place that decides what is in range.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, fields
from typing import Any

MODES = ("fast", "book")
DEVICES = ("auto", "cpu", "cuda", "mps")


class ConfigError(ValueError):
    """A hyperparameter is out of range; the message names the field and the fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message

    def sentence(self) -> str:
        """The message for a person: the setting's label, then the reason (`Epochs must be between 1 and 1000`)."""
        setting = SCHEMA.get(self.field)
        label = setting.label if setting else self.field.replace("_", " ").capitalize()
        joiner = " " if self.reason.startswith("must") else ": "
        return f"{label}{joiner}{self.reason}."


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one run. Defaults are the book's (D2L §15.4), except `mode`."""

    corpus: str = "ptb"
    lowercase: bool = False
    min_freq: int = 10
    subsample: float = 1e-4
    max_window: int = 5
    negatives: int = 5
    embed_size: int = 100
    epochs: int = 5
    batch_size: int = 512
    lr: float = 0.002
    sgd_lr: float = 0.075
    mode: str = "fast"
    device: str = "auto"
    threads: int = 0
    seed: int = 0
    log_every: int = 20
    sync_every: int = 4

    def __post_init__(self) -> None:
        validate(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from saved or user data; unknown keys are an error, missing ones take defaults."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(unknown[0], f"unknown setting; known settings are {', '.join(known)}")
        return cls(**{k: _coerce(k, known[k].type, v) for k, v in data.items()})


@dataclass(frozen=True)
class Setting:
    """How one `TrainConfig` field is shown, parsed, checked and documented; the form, the CLI, the README's
    settings table and the resume rules are all generated from these records.

    `uses` lists where the setting matters as `mode/device` patterns (`*` for any), the device being the one
    training runs on (`auto` resolves to cuda, mps or cpu first). `group` places it on the form; `form=False`
    keeps a setting on the command line only. `book` is the name D2L's chapter (§15.3-15.4) gives it, shown
    beside ours on the form, in the command line's help and in the README.
    """

    name: str
    label: str
    help: str
    unit: str = ""
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    uses: tuple[str, ...] = ("*/*",)
    resumable: bool = False
    flag: str = ""
    group: str = "model"
    form: bool = True
    book: str = ""

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def whole(self) -> bool:
        return isinstance(self.low, int) and not isinstance(self.low, bool)

    def unit_text(self) -> str:
        """` (unit)`, or nothing when there is no unit or the help ends with it already (`negative samples drawn
        per context word (per context word)` said it twice)."""
        return f" ({self.unit})" if self.unit and not self.help.endswith(self.unit) else ""

    def described(self) -> str:
        """`Label (unit), the book's num_epochs: help`: how the command line's help and the README describe it."""
        book = f", the book's {self.book}" if self.book else ""
        return f"{self.label}{self.unit_text()}{book}: {self.help}"

    def range_text(self) -> str:
        """`1 to 1000`, `1e-07 to 10`: how the form, the CLI's --help and the README state the range."""
        if self.low is None or self.high is None:
            return ", ".join(self.choices)
        if not self.whole:
            return f"{self.low:g} to {self.high:g}"
        return f"{self.low} to {_whole_text(self.high)}"

    def used_by(self, mode: str, device: str) -> bool:
        """Whether training in `mode` on the resolved `device` (cpu, cuda, mps) reads this setting."""
        return any(
            want_mode in ("*", mode) and want_device in ("*", device)
            for want_mode, want_device in (pattern.split("/") for pattern in self.uses)
        )


def _whole_text(value: int) -> str:
    """A bound of 2^k - 1 (k >= 32) as `2^63 − 1`, which a reader checks at a glance; others as digits."""
    k = (value + 1).bit_length() - 1
    return f"2^{k} − 1" if k >= 32 and value + 1 == 1 << k else str(value)


SCHEMA: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting(
            "corpus",
            "Corpus",
            "ptb (the book's Penn Treebank), lee (gensim's Lee news corpus) or the path of a UTF-8 text file",
            group="corpus",
        ),
        Setting(
            "lowercase",
            "Lowercase the text",
            "fold the corpus to lower case (PTB is lowercase already)",
            flag="--lowercase",
            group="corpus",
        ),
        Setting(
            "min_freq",
            "Minimum word count",
            "rarer words become <unk>",
            "occurrences",
            1,
            1_000_000,
            1,
            group="corpus",
            book="min_freq",
        ),
        Setting(
            "subsample",
            "Subsampling threshold",
            "frequent words are dropped with probability 1 - sqrt(t / frequency); 0 keeps every word",
            "t",
            0.0,
            1.0,
            1e-5,
            group="corpus",
            book="t",
        ),
        Setting(
            "mode",
            "Training mode",
            "fast: compiled SGD; book: the book's minibatches and Adam",
            choices=MODES,
            group="mode",
        ),
        Setting(
            "embed_size", "Vector size", "dimensions of each word vector", "dimensions", 2, 2048, 1, book="embed_size"
        ),
        Setting(
            "max_window",
            "Context window",
            "largest number of context words on each side of a center",
            "words",
            1,
            50,
            1,
            flag="--window",
            book="max_window_size",
        ),
        Setting(
            "negatives",
            "Noise words",
            "negative samples drawn per context word",
            "per context word",
            1,
            100,
            1,
            book="num_noise_words",
        ),
        Setting("epochs", "Epochs", "passes over the corpus", "passes", 1, 1000, 1, resumable=True, book="num_epochs"),
        Setting(
            "lr",
            "Learning rate (Adam)",
            "Adam's step size in the book mode",
            "",
            1e-7,
            10.0,
            5e-4,
            uses=("book/*",),
            book="lr",
        ),
        Setting(
            "sgd_lr",
            "Learning rate (SGD, decays to 0)",
            "starting step size of the fast mode, decreasing linearly to 0 over the run",
            "",
            1e-7,
            10.0,
            5e-3,
            uses=("fast/*",),
        ),
        Setting(
            "batch_size",
            "Batch size",
            "centers per optimiser step (the fast mode on a CPU updates word by word and ignores it)",
            "centers",
            1,
            1_000_000,
            1,
            uses=("book/*", "fast/cuda", "fast/mps"),
            resumable=True,
            book="batch_size",
        ),
        Setting(
            "seed",
            "Random seed",
            "the same seed gives the same random draws (subsampling, noise words, batch order)",
            "",
            0,
            2**63 - 1,
            1,
        ),
        Setting(
            "device",
            "Device",
            "where training runs; auto picks a GPU when there is one",
            choices=DEVICES,
            resumable=True,
            group="system",
            book="device",
        ),
        Setting(
            "threads",
            "CPU threads",
            "threads training on the CPU; 0 uses every core",
            "threads",
            0,
            1024,
            1,
            uses=("*/cpu",),
            resumable=True,
            group="system",
        ),
        Setting(
            "log_every",
            "Progress report every",
            "steps between loss points and progress events",
            "steps",
            1,
            1_000_000,
            1,
            resumable=True,
            group="system",
        ),
        Setting(
            "sync_every",
            "Synchronise processes every",
            "steps between synchronisations of data-parallel "
            "processes (torchrun): the fast mode merges the replicas' weights, both modes agree on stopping "
            "and report each process's speed",
            "steps",
            1,
            1_000_000,
            1,
            group="processes",
        ),
    )
}


def resumable_fields() -> tuple[str, ...]:
    """Settings a resumed run may change: they alter speed or length, not what the model is."""
    return tuple(name for name, s in SCHEMA.items() if s.resumable)


_KIND_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}


def _coerce(name: str, annotation: Any, value: Any) -> Any:
    """Turn JSON / command-line values into the field's type, or explain why not."""
    kind = {"int": int, "float": float, "bool": bool, "str": str}.get(str(annotation), str)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    try:
        if kind is bool:
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
                return value.lower() in ("true", "1")
            raise ValueError
        if kind is int and isinstance(value, float):
            if not value.is_integer():
                raise ValueError
            return int(value)
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(name, f"must be {_KIND_WORDS[kind]}, got {value!r}") from None


def validate(cfg: TrainConfig) -> None:
    """Raise :class:`ConfigError` naming the first field that is out of its schema range."""
    for setting in SCHEMA.values():
        value = getattr(cfg, setting.name)
        if setting.choices and value not in setting.choices:
            raise ConfigError(setting.name, f"must be one of {', '.join(setting.choices)}, got {value!r}")
        if setting.low is not None and setting.high is not None:
            _check_range(setting, value)
    if not isinstance(cfg.corpus, str) or not cfg.corpus.strip():
        raise ConfigError("corpus", "name ptb, lee or the path of a UTF-8 text file")


def _check_range(setting: Setting, value: Any) -> None:
    if setting.whole and (not isinstance(value, int) or isinstance(value, bool)):
        raise ConfigError(setting.name, f"must be a whole number, got {value!r}")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ConfigError(setting.name, f"must be a finite number, got {value!r}")
    if not setting.low <= value <= setting.high:  # type: ignore[operator]
        between = setting.range_text().replace(" to ", " and ")
        raise ConfigError(setting.name, f"must be between {between}, got {value:g}")


def settings_table() -> str:
    """The README's settings table (Markdown), generated from the schema; a test keeps the README in sync."""
    defaults = TrainConfig()
    lines = [
        "| setting | the book's name | command line | what it is | range | default | used by | on resume |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in SCHEMA.values():
        used = ", ".join(_used_text(pattern) for pattern in s.uses)
        where = s.cli_flag + ("" if s.form else " (command line only)")
        resume = "may change" if s.resumable else "fixed"
        what = f"{s.label}{s.unit_text()}: {s.help}".replace("|", "\\|").replace("<", "&lt;")
        book = f"`{s.book}`" if s.book else ""
        default = getattr(defaults, s.name)
        lines.append(f"| `{s.name}` | {book} | `{where}` | {what} | {s.range_text()} | {default} | {used} | {resume} |")
    return "\n".join(lines) + "\n"


def _used_text(pattern: str) -> str:
    mode, device = pattern.split("/")
    if mode == "*":
        return "all" if device == "*" else f"{device} device"
    return f"{mode} mode" if device == "*" else f"{mode} mode on {device}"
