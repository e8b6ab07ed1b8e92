"""Config defaults are the book's; every out-of-range value names its field."""

from __future__ import annotations

import dataclasses

import pytest

from core.config import ConfigError, TrainConfig
from core.device import DeviceError, resolve_device


def test_defaults_are_the_books() -> None:
    cfg = TrainConfig()
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.embed_size) == (5, 512, 0.002, 100)
    assert (cfg.max_window, cfg.negatives, cfg.min_freq, cfg.subsample, cfg.corpus) == (5, 5, 10, 1e-4, "ptb")


def test_config_is_frozen_and_round_trips() -> None:
    cfg = TrainConfig(epochs=3, mode="book")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 4  # type: ignore[misc]
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.from_dict({"epochs": "7", "subsample": "0.001", "lowercase": "true"}).epochs == 7


@pytest.mark.parametrize(
    "field, value",
    [
        ("min_freq", 0),
        ("max_window", 0),
        ("max_window", 51),
        ("negatives", 0),
        ("embed_size", 1),
        ("epochs", 0),
        ("epochs", -3),
        ("batch_size", 0),
        ("threads", -1),
        ("seed", -1),
        ("log_every", 0),
        ("subsample", -0.1),
        ("subsample", 2.0),
        ("lr", 0.0),
        ("lr", float("nan")),
        ("sgd_lr", 100.0),
        ("mode", "turbo"),
        ("device", "tpu"),
        ("corpus", " "),
        ("epochs", 2.5),
        ("lr", "fast"),
    ],
)
def test_out_of_range_values_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({field: value})
    assert info.value.field == field and field in str(info.value)


def test_unknown_setting() -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        TrainConfig.from_dict({"learning_rate": 0.1})


def test_missing_gpu_is_a_clear_error() -> None:
    if resolve_device("auto").type != "cpu":
        pytest.skip("this machine has a GPU")
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"
