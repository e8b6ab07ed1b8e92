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


# (low, high) inclusive bounds and a hint on what the field means.
_INT_BOUNDS: dict[str, tuple[int, int, str]] = {
    "min_freq": (1, 1_000_000, "minimum count for a word to enter the vocabulary"),
    "max_window": (1, 50, "largest context window on each side of a center"),
    "negatives": (1, 100, "noise words per context word"),
    "embed_size": (2, 2048, "embedding dimension"),
    "epochs": (1, 1000, "passes over the corpus"),
    "batch_size": (1, 1_000_000, "centers per optimiser step"),
    "threads": (0, 1024, "CPU threads (0 = all cores)"),
    "seed": (0, 2**63 - 1, "random seed"),
    "log_every": (1, 1_000_000, "steps between progress events"),
    "sync_every": (
        1,
        1_000_000,
        "steps between synchronisations of data-parallel processes (torchrun): the fast mode merges "
        "the replicas' weights, both modes agree on stopping and report each process's speed",
    ),
}
_FLOAT_BOUNDS: dict[str, tuple[float, float, str]] = {
    "subsample": (0.0, 1.0, "subsampling threshold t (0 disables subsampling)"),
    "lr": (1e-7, 10.0, "Adam learning rate of the book mode"),
    "sgd_lr": (1e-7, 10.0, "initial SGD learning rate of the fast mode"),
}


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
        raise ConfigError(name, f"expected {kind.__name__}, got {value!r}") from None


def validate(cfg: TrainConfig) -> None:
    """Raise :class:`ConfigError` naming the first field that is out of range."""
    for name, (low, high, what) in _INT_BOUNDS.items():
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(name, f"{what} must be a whole number, got {value!r}")
        if not low <= value <= high:
            raise ConfigError(name, f"{what} must be between {low} and {high}, got {value}")
    for name, (low, high, what) in _FLOAT_BOUNDS.items():
        value = getattr(cfg, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ConfigError(name, f"{what} must be a finite number, got {value!r}")
        if not low <= value <= high:
            raise ConfigError(name, f"{what} must be between {low:g} and {high:g}, got {value:g}")
    if cfg.mode not in MODES:
        raise ConfigError("mode", f"must be one of {', '.join(MODES)}, got {cfg.mode!r}")
    if cfg.device not in DEVICES:
        raise ConfigError("device", f"must be one of {', '.join(DEVICES)}, got {cfg.device!r}")
    if not isinstance(cfg.corpus, str) or not cfg.corpus.strip():
        raise ConfigError("corpus", "name ptb, lee or the path of a UTF-8 text file")
