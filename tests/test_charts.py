"""Figures: corpus words reach plotly as escaped text, never as markup; curves and bars carry the right data."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from core.runs import MetricRow, MetricsReader
from core.runs.records import CHART_POINTS
from pages.charts import analogy_figure, compare_loss_figure, loss_figure, map_figure, plain, similarity_bars

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def word_frame(words: list[str]) -> pd.DataFrame:
    n = len(words)
    return pd.DataFrame(
        {"word": words, "rank": range(1, n + 1), "count": [10] * n, "x": range(n), "y": range(n), "cluster": [0] * n}
    )


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
    fig = map_figure(frame, "frequency", labels=3, highlight=[SCRIPT, "chip"], query=SCRIPT)
    assert SCRIPT not in fig.to_json()
    assert ESCAPED in fig.data[0].hovertext[0] and ESCAPED in list(fig.data[1].text)  # the words and the marked ones


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
