"""Figures: corpus words reach plotly as escaped text, never as markup; curves and bars carry the right data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from core.runs import MetricRow, MetricsReader
from core.runs.records import CHART_POINTS, smoothed
from pages.parts.charts import (
    LABEL_HEIGHT_EM,
    LABEL_SIZE,
    LossView,
    MapAxes,
    MapLabels,
    MapSize,
    analogy_figure,
    compare_loss_figure,
    label_width,
    loss_figure,
    map_figure,
    plain,
    similarity_bars,
)

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def word_frame(words: list[str]) -> pd.DataFrame:
    n = len(words)
    return pd.DataFrame(
        {"word": words, "rank": range(1, n + 1), "count": [10] * n, "x": range(n), "y": range(n), "cluster": [0] * n}
    ).assign(focus=lambda f: f["word"].isin(words[:2]))


def test_plain_escapes_markup_only() -> None:
    assert plain(SCRIPT) == ESCAPED
    assert plain("<b>bold</b> & 'quotes'") == "&lt;b&gt;bold&lt;/b&gt; &amp; 'quotes'"
    assert plain("chip") == "chip"


def test_bar_labels_and_title_are_escaped() -> None:
    fig = similarity_bars([(SCRIPT, 0.9), ("chip", 0.5)], f"Nearest to “{SCRIPT}”")
    assert list(fig.data[0].y) == ["chip", ESCAPED]  # closest on top
    assert SCRIPT not in fig.to_json()
    assert ESCAPED in fig.layout.title.text


def test_map_text_hover_and_highlight_are_escaped() -> None:
    frame = word_frame([SCRIPT, "chip", "intel"])
    fig = map_figure(frame, "frequency", query=SCRIPT, title=SCRIPT, labels=MapLabels(must=[SCRIPT, "chip"], limit=3))
    assert SCRIPT not in fig.to_json()
    rings = next(t for t in fig.data if t.name == f"{ESCAPED} and its neighbours")
    assert ESCAPED in fig.data[0].hovertext[0] and ESCAPED in list(rings.text)  # the words and the marked ones
    assert ESCAPED in next(t for t in fig.data if t.name == "must labels").text and ESCAPED in fig.layout.title.text


def label_boxes(fig, frame: pd.DataFrame, size: MapSize) -> list[tuple[str, tuple[float, ...]]]:
    """Every drawn label's word and box in plot-area pixels, from the figure's text traces and fixed axes."""
    axes = MapAxes(tuple(fig.layout.xaxis.range), tuple(fig.layout.yaxis.range), size)
    boxes = []
    for trace in fig.data:
        if trace.mode == "text":
            for (x, y), word in zip(axes.to_pixels(trace.x, trace.y), trace.text, strict=True):
                half_w, half_h = label_width(word) / 2, LABEL_HEIGHT_EM * LABEL_SIZE / 2
                boxes.append((word, (x - half_w, y - half_h, x + half_w, y + half_h)))
    return boxes


def test_map_labels_never_overlap_and_focus_words_are_always_labelled() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    frame = pd.DataFrame(
        {"word": [f"word{i}" for i in range(n)], "rank": range(1, n + 1), "count": 1, "cluster": rng.integers(0, 4, n)}
    )
    frame["x"], frame["y"] = rng.normal(size=n), rng.normal(size=n)  # a dense centre, as frequent words make
    frame["focus"] = frame["rank"].isin([1500, 1501, 1502])
    focus = list(frame.loc[frame["focus"], "word"])
    size = MapSize()
    fig = map_figure(frame, "cluster", "word1499", labels=MapLabels(must=focus, limit=60), size=size)
    assert (fig.layout.width, fig.layout.height) == (size.width, size.height) and fig.layout.xaxis.autorange is False
    boxes = label_boxes(fig, frame, size)
    words = [w for w, _ in boxes]
    assert set(focus) <= set(words) and 3 < len(words) <= 63
    for a, (_, first) in enumerate(boxes):
        for _, second in boxes[a + 1 :]:
            assert first[2] <= second[0] or second[2] <= first[0] or first[3] <= second[1] or second[3] <= first[1]
    assert [t.name for t in fig.data][:4] == [
        f"cluster {c}: {', '.join(f'word{i}' for i in first)}"
        for c, first in ((c, frame[frame.cluster == c].nsmallest(3, "rank").index) for c in range(4))
    ]
    assert fig.layout.showlegend
    legend = fig.layout.legend
    assert legend.yanchor == "top" and legend.y <= 0, "the legend lies below the plot, over no point"


def test_3d_maps_turn_on_drag_and_keep_their_camera() -> None:
    frame = word_frame(["a", "b", "c"]).assign(z=[0.0, 1.0, 2.0])
    fig = map_figure(frame, "cluster", "a", labels=MapLabels(must=["a", "b"]), revision="map 1")
    assert fig.layout.scene.dragmode == "turntable" and fig.layout.uirevision == "map 1"


def test_compare_curves_one_per_run_on_epochs_or_seconds() -> None:
    step = MetricRow("step", 1, 0.25, 0.6, 100.0, 1.0, 3.0, 0.0)
    end = MetricRow("epoch", 1, 0.5, 0.5, 100.0, 2.0, 2.0, 0.0)
    curves = {SCRIPT: ([step, end], 2), "b": ([step], 2)}
    by_epoch = compare_loss_figure(curves, "epoch", "epochs")
    assert [t.name for t in by_epoch.data] == [ESCAPED, "b"] and list(by_epoch.data[0].x) == [1]
    by_step = compare_loss_figure(curves, "step", "seconds")
    assert list(by_step.data[0].x) == [1.0] and list(by_step.data[0].y) == [0.6]
    assert list(compare_loss_figure(curves, "step", "epochs").data[0].x) == [0.5]  # a quarter of two epochs


def test_analogy_chart_leaves_out_sections_without_questions() -> None:
    rows = [
        {"section": "capital-common-countries", "questions": 10, "3CosAdd": 0.5, "3CosMul": 0.6},
        {"section": "currency", "questions": 0, "3CosAdd": None, "3CosMul": None},
    ]
    fig = analogy_figure(rows)
    assert [t.name for t in fig.data] == ["3CosAdd", "3CosMul"]
    assert list(fig.data[1].y) == ["capital-common-countries (10)"] and list(fig.data[1].x) == [0.6]


def step_row(i: int, n: int) -> MetricRow:
    return MetricRow("step", 1 + 2 * i // n, i / n, 1.0 / (1 + i), 1e5, i * 0.1, 1.0, float(i))


def test_charts_draw_a_bounded_number_of_points_however_long_the_run(tmp_path: Path) -> None:
    n = 50_000
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(step_row(i, n).to_dict()) + "\n" for i in range(n)), encoding="utf-8")
    reader = MetricsReader(path)
    reader.poll()
    fig = loss_figure(reader, 2)
    drawn = [len(trace.x) for trace in fig.data[:2]]
    assert drawn == [CHART_POINTS, CHART_POINTS] and reader.steps == n
    assert fig.data[0].x[-1] == (n - 1) / n * 2  # the newest point is always drawn
    rows = [step_row(i, n) for i in range(n)]
    compared = compare_loss_figure({"a": (rows, 2), "b": (rows[:10], 2)}, "step", "epochs")
    assert [len(trace.x) for trace in compared.data] == [CHART_POINTS, 10]


def test_the_train_and_compare_charts_smooth_alike(tmp_path: Path) -> None:
    """One moving average: the compare chart's line is the reader's, debiased from its first point."""
    rows = [step_row(i, 40) for i in range(40)]
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(row.to_dict()) + "\n" for row in rows), encoding="utf-8")
    reader = MetricsReader(path)
    reader.poll()
    line = list(compare_loss_figure({"a": (rows, 2)}, "step", "epochs").data[0].y)
    assert line == reader.smoothed() == smoothed([row.loss for row in rows])
    assert line[0] == rows[0].loss  # debiased: the first point is the first loss, not a tenth of it


def test_the_compare_chart_takes_the_same_smoothing_and_log_scale() -> None:
    rows = [step_row(i, 40) for i in range(40)]
    fig = compare_loss_figure({"a": (rows, 2)}, "step", "epochs", LossView(0.0, log=True))
    assert list(fig.data[0].y) == [row.loss for row in rows] and fig.layout.yaxis.type == "log"
