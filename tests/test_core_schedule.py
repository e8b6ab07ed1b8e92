"""One learning-rate schedule, and a trainer that drives every engine through the same protocol."""

from __future__ import annotations

import ast
import re

import pytest
from conftest import ROOT

from core.engines.base import learning_rate, learning_rates

CORE = ROOT / "core"
SCHEDULE = CORE / "engines" / "base.py"


@pytest.mark.parametrize(("progress", "rate"), [(0.0, 0.025), (0.5, 0.0125), (1.0, 0.025e-4), (1.5, 0.025e-4)])
def test_the_rate_decays_linearly_to_its_floor(progress: float, rate: float) -> None:
    assert learning_rate(0.025, progress) == pytest.approx(rate, rel=1e-12)


def test_a_span_takes_the_rates_of_its_ends() -> None:
    assert learning_rates(0.025, (0.0, 0.5)) == (learning_rate(0.025, 0.0), learning_rate(0.025, 0.5))


def test_the_schedule_is_written_once() -> None:
    """MIN_LR_FRACTION and the decay `1 - progress` appear in core/engines/base.py and nowhere else in core."""
    decay = re.compile(r"\b1(\.0)?\s*-\s*p(rogress)?\b")
    for path in CORE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path == SCHEDULE:
            assert "MIN_LR_FRACTION = " in text and decay.search(text)
        else:
            assert "MIN_LR_FRACTION" not in text, path
            assert not decay.search(text), path


def test_the_trainer_asks_no_engine_its_type() -> None:
    """No isinstance in core/trainer.py names an engine: engines own their step, state and replica sync."""
    tree = ast.parse((CORE / "trainer.py").read_text(encoding="utf-8"))
    checked = [
        ast.unparse(node.args[1])
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance"
    ]
    assert not [types for types in checked if "Engine" in types], checked
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names]
    assert not [name for name in imported if name.endswith("Engine")], imported
