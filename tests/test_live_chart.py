"""The live loss chart: an SVG image with the same series as the interactive chart, cheap to redraw."""

from __future__ import annotations

import itertools
import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from core.runs import MetricsReader
from core.runs.records import smoothed
from pages.parts.charts import LOSS_COLOURS, LossView, loss_figure, loss_svg, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.0, 5.0, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
        (0.362, 0.61, [0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65]),
        (0.0, 1000.0, [0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]),
    ],
)
def test_ticks_are_round_and_cover_the_range(low: float, high: float, expected: list[float]) -> None:
    assert nice_ticks(low, high, 6 if high == 1000 else 5) == pytest.approx(expected)


@pytest.mark.parametrize(("low", "high"), [(0.4, 0.4), (0.6, 0.6000000000000001), (0.0, 1e-17)])
def test_ticks_of_a_flat_series_still_span_something(low: float, high: float) -> None:
    """A moving average of equal losses differs from them in the last bit: still flat, not a 1e-17 step."""
    ticks = nice_ticks(low, high)
    assert ticks[0] <= low <= high <= ticks[-1]
    assert min(b - a for a, b in itertools.pairwise(ticks)) > 1e-3


def reader_with(tmp_path: Path, steps: int, epochs_done: int) -> MetricsReader:
    rows = [
        {
            "kind": "step",
            "epoch": 1,
            "fraction": (i + 1) / (steps * 2),
            "loss": 0.6 - 0.002 * i,
            "tokens_per_s": 1.0,
            "elapsed_s": float(i),
            "eta_s": 1.0,
            "time": 0.0,
        }
        for i in range(steps)
    ]
    rows += [
        {
            "kind": "epoch",
            "epoch": e,
            "fraction": e / 2,
            "loss": 0.5 - 0.01 * e,
            "tokens_per_s": 1.0,
            "elapsed_s": 1.0,
            "eta_s": 1.0,
            "time": 0.0,
        }
        for e in range(1, epochs_done + 1)
    ]
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    reader = MetricsReader(path)
    reader.poll()
    return reader


def test_the_chart_draws_every_point_inside_its_plot_area(tmp_path: Path) -> None:
    svg = ET.fromstring(loss_svg(reader_with(tmp_path, steps=40, epochs_done=1), epochs=2))
    paths = [p.get("d") for p in svg.iter(f"{SVG}path")]
    dots = re.findall(r"M([\d.]+) ([\d.]+)h0", paths[0])
    assert len(dots) == 40
    width, height = (float(v) for v in svg.get("viewBox").split()[2:])
    assert all(0 < float(x) < width and 0 < float(y) < height for x, y in dots)
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert {"step loss", "smoothed", "epoch mean", "epoch"} <= set(labels)
    assert "2.0" in labels, "the x axis reaches the run's last epoch"


def test_a_run_without_points_gives_an_empty_chart_not_an_error(tmp_path: Path) -> None:
    ET.fromstring(loss_svg(reader_with(tmp_path, steps=0, epochs_done=0), epochs=5))


def test_the_live_and_the_interactive_chart_draw_each_series_in_one_colour(tmp_path: Path) -> None:
    reader = reader_with(tmp_path, steps=10, epochs_done=1)
    fig = loss_figure(reader, epochs=2)
    plotly = {trace.name: trace.marker.color or trace.line.color for trace in fig.data}
    assert plotly == LOSS_COLOURS
    svg = loss_svg(reader, epochs=2)
    assert all(f'stroke="{colour}"' in svg for colour in LOSS_COLOURS.values())


def test_the_moving_average_is_debiased_as_tensorboard_smooths() -> None:
    """Worked by hand at weight 0.6: averages 0.4, 0.44, 0.364 divided by 1 - 0.6^t (0.4, 0.64, 0.784)."""
    assert smoothed([1.0, 0.5, 0.25], 0.6) == pytest.approx([1.0, 0.6875, 0.364 / 0.784])
    assert smoothed([0.7, 0.3], 0.9)[0] == pytest.approx(0.7)  # the first point is the first loss, at any weight
    assert smoothed([0.7, 0.3, 0.5], 0.0) == [0.7, 0.3, 0.5]  # no smoothing: the losses themselves


def test_the_reader_smooths_every_step_at_the_weight_asked_for(tmp_path: Path) -> None:
    reader = reader_with(tmp_path, steps=30, epochs_done=0)
    losses = [0.6 - 0.002 * i for i in range(30)]
    for weight in (0.6, 0.95, 0.0):
        assert reader.smoothed(weight) == pytest.approx(smoothed(losses, weight))
        assert reader.chart_points(weight=weight)[2][0] == pytest.approx(losses[0])


def test_the_view_travels_in_the_feed_url_and_bad_values_take_the_default() -> None:
    view = LossView(0.85, log=True)
    assert LossView.from_query(dict(parse_qsl(view.query()))) == view
    assert LossView.from_query({"smoothing": "nan", "log": "yes"}) == LossView()
    assert LossView(5.0).smoothing == 0.99 and LossView(-1.0).smoothing == 0.0


def test_the_log_toggle_sets_both_charts_log_scale(tmp_path: Path) -> None:
    reader = reader_with(tmp_path, steps=40, epochs_done=1)
    assert loss_figure(reader, 2, LossView(log=True)).layout.yaxis.type == "log"
    assert loss_figure(reader, 2).layout.yaxis.type == "linear"
    svg = ET.fromstring(loss_svg(reader, 2, LossView(log=True)))
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert "loss (binary cross-entropy), log scale" in labels
    ticks = {float(t.get("y")): float(t.text) for t in svg.iter(f"{SVG}text") if t.get("text-anchor") == "end"}
    ys = sorted(ticks)  # top to bottom: the values fall, and equal ratios take equal heights
    ratios = [math.log(ticks[a] / ticks[b]) / (b - a) for a, b in itertools.pairwise(ys)]
    assert max(ratios) == pytest.approx(min(ratios), rel=0.05)
