"""Figures: corpus words reach plotly as escaped text, never as markup; curves and bars carry the right data."""

from __future__ import annotations

import pandas as pd

from pages.charts import analogy_figure, compare_loss_figure, map_figure, plain, similarity_bars

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
    step = {"kind": "step", "epoch": 1, "fraction": 0.25, "loss": 0.6, "elapsed_s": 1.0}
    end = {"kind": "epoch", "epoch": 1, "fraction": 0.5, "loss": 0.5, "elapsed_s": 2.0}
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
