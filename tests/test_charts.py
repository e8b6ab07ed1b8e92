"""Figures: corpus words reach plotly as escaped text, never as markup; curves and bars carry the right data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from core.runs import MetricRow, MetricsReader
from core.runs.records import CHART_POINTS, smoothed
from pages.parts.charts import (
    LABEL_PX,
    MAP_PX,
    LossView,
    analogy_figure,
    compare_loss_figure,
    loss_figure,
    map_figure,
    plain,
    similarity_bars,
    spread_labels,
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
    fig = map_figure(frame, "frequency", labels=3, query=SCRIPT, title=SCRIPT)
    assert SCRIPT not in fig.to_json()
    assert ESCAPED in fig.data[0].hovertext[0] and ESCAPED in list(fig.data[1].text)  # the words and the marked ones
    assert fig.data[1].name == f"{ESCAPED} and its neighbours" and ESCAPED in fig.layout.title.text


def test_map_labels_never_overlap_and_focus_words_are_always_labelled() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    frame = pd.DataFrame(
        {"word": [f"word{i}" for i in range(n)], "rank": range(1, n + 1), "count": 1, "cluster": rng.integers(0, 4, n)}
    )
    frame["x"], frame["y"] = rng.normal(size=n), rng.normal(size=n)  # a dense centre, as frequent words make
    frame["focus"] = frame["rank"].isin([1500, 1501, 1502])
    chosen = spread_labels(frame, 60)
    assert chosen[frame["focus"]].all() and 3 < chosen.sum() <= 63
    px = (frame["x"] - frame["x"].min()) / np.ptp(frame["x"]) * MAP_PX[0]
    py = (frame["y"] - frame["y"].min()) / np.ptp(frame["y"]) * MAP_PX[1]
    others = np.flatnonzero(chosen & ~frame["focus"].to_numpy())
    for a in others:
        for b in np.flatnonzero(chosen):
            if a != b:
                half = (len(frame["word"][a]) + len(frame["word"][b])) * LABEL_PX[0] / 2 + 4
                assert abs(px[a] - px[b]) >= half or abs(py[a] - py[b]) >= LABEL_PX[1], (a, b)
    fig = map_figure(frame, "cluster", 60, "word1499")
    assert [t.name for t in fig.data][:4] == [
        f"cluster {c}: {', '.join(f'word{i}' for i in first)}"
        for c, first in ((c, frame[frame.cluster == c].nsmallest(3, "rank").index) for c in range(4))
    ]
    assert fig.layout.showlegend
    legend = fig.layout.legend
    assert legend.yanchor == "top" and legend.y <= 0, "the legend lies below the plot, over no point"


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
