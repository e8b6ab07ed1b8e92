"""Plotly figures of the app; plain functions of data, no Streamlit calls."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.runs import MetricRow, MetricsReader, bounded_indices

SMOOTHING = 0.9  # weight of the past in the exponential moving average of the step losses


def plain(text: str) -> str:
    """Text for plotly labels, titles and hovers: plotly reads a few HTML tags there, so corpus words are escaped
    (plotly turns the entities back into the characters, so `<b>` shows as typed and never as markup)."""
    return html.escape(text, quote=False)


def smooth(values: list[float], weight: float = SMOOTHING) -> list[float]:
    """Bias-corrected exponential moving average, so the first points are not pulled towards zero."""
    out, average = [], 0.0
    for n, value in enumerate(values, 1):
        average = weight * average + (1 - weight) * value
        out.append(average / (1 - weight**n))
    return out


def loss_figure(curve: MetricsReader, epochs: int) -> go.Figure:
    """Step losses as points, their smoothed line, and each epoch's mean loss, against epochs done.

    However long the run, at most `CHART_POINTS` step points are drawn (evenly spaced, the newest included).
    """
    fractions, loss, smoothed = curve.chart_points()
    x = [f * epochs for f in fractions]
    fig = go.Figure()
    fig.add_scatter(x=x, y=loss, mode="markers", name="step loss", marker={"size": 4, "opacity": 0.45})
    fig.add_scatter(x=x, y=smoothed, mode="lines", name="smoothed", line={"width": 2})
    fig.add_scatter(
        x=[m.epoch for m in curve.epochs],
        y=[m.loss for m in curve.epochs],
        mode="lines+markers",
        name="epoch mean",
        marker={"size": 9, "symbol": "diamond"},
    )
    fig.update_layout(
        xaxis_title="epoch",
        yaxis_title="loss (binary cross-entropy)",
        height=360,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 1.12},
        uirevision="loss",
    )
    fig.update_xaxes(range=[0, epochs])
    return fig


def similarity_bars(pairs: list[tuple[str, float]], title: str) -> go.Figure:
    """Horizontal bars of cosine similarity, the closest word on top."""
    words = [plain(w) for w, _ in pairs][::-1]
    scores = [s for _, s in pairs][::-1]
    fig = go.Figure(go.Bar(x=scores, y=words, orientation="h", text=[f"{s:.3f}" for s in scores]))
    fig.update_layout(
        title=plain(title),
        xaxis_title="cosine similarity",
        height=max(240, 28 * len(pairs) + 80),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def map_figure(frame: pd.DataFrame, color_by: str, labels: int, highlight: list[str], query: str | None) -> go.Figure:
    """Scatter of a word map (2-D or 3-D), text labels on the `labels` most frequent words, the query marked."""
    three_d = "z" in frame
    marked = frame["word"].isin(highlight)
    words = frame["word"].map(plain)
    text = words.where((frame["rank"] <= labels) & ~marked, "")  # marked words get their label on top
    hover = words + " · rank " + frame["rank"].astype(str) + " · count " + frame["count"].astype(str)
    hover += " · cluster " + frame["cluster"].astype(str)
    marker: dict[str, Any] = {"size": 4 if three_d else 6, "opacity": 0.75}
    if color_by == "cluster":
        marker.update(color=frame["cluster"], colorscale="Turbo")
    else:
        log_count = np.log10(frame["count"].clip(lower=1))
        marker.update(color=log_count, colorscale="Viridis", colorbar={"title": "log10 count"})
    points = {"x": frame["x"], "y": frame["y"], "text": text, "hovertext": hover, "hoverinfo": "text"}
    fig = go.Figure()
    if three_d:
        fig.add_scatter3d(**points, z=frame["z"], mode="markers+text", marker=marker, name="words")
    else:
        fig.add_scatter(**points, mode="markers+text", textposition="top center", marker=marker, name="words")
    if marked.any():
        _add_highlight(fig, frame[marked], query, three_d)
    fig.update_layout(
        height=700,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        showlegend=bool(marked.any()),
        legend={"orientation": "h", "x": 0, "y": 1.04},
    )
    return fig


def _add_highlight(fig: go.Figure, rows: pd.DataFrame, query: str | None, three_d: bool) -> None:
    """Ring the query word (star) and its neighbours (circles) on top of the map."""
    symbols = ["star" if w == query else "circle-open" for w in rows["word"]]
    sizes = [18 if w == query else 13 for w in rows["word"]]
    marker = {"size": sizes, "color": "crimson", "symbol": symbols, "line": {"width": 2, "color": "crimson"}}
    common = {"x": rows["x"], "y": rows["y"], "text": rows["word"].map(plain), "mode": "markers+text", "name": "query"}
    if three_d:
        marker["symbol"] = ["diamond" if w == query else "circle-open" for w in rows["word"]]
        fig.add_scatter3d(**common, z=rows["z"], marker=marker)
    else:
        fig.add_scatter(**common, textposition="bottom center", marker=marker)


def analogy_figure(rows: list[dict[str, Any]]) -> go.Figure:
    """Accuracy per Google-analogy section, 3CosAdd beside 3CosMul; sections with no known question are left out."""
    asked = [r for r in rows if r["questions"]]
    names = [f"{r['section']} ({r['questions']:,})" for r in asked]
    fig = go.Figure()
    for method in ("3CosAdd", "3CosMul"):
        fig.add_bar(x=[r[method] for r in asked], y=names, orientation="h", name=method)
    fig.update_layout(
        barmode="group",
        xaxis={"title": "accuracy on questions whose four words are known", "tickformat": ".0%"},
        yaxis={"autorange": "reversed"},
        height=max(260, 34 * len(asked) + 90),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 1.06},
    )
    return fig


def compare_loss_figure(curves: dict[str, tuple[list[MetricRow], int]], per: str, x_axis: str) -> go.Figure:
    """Loss curves of several runs (metrics, configured epochs) on one chart: epoch means or smoothed step
    losses, against epochs done or training seconds."""
    fig = go.Figure()
    kind = "epoch" if per == "epoch" else "step"
    for name, (records, epochs) in curves.items():
        points = [m for m in records if m.kind == kind]
        x = [m.elapsed_s if x_axis == "seconds" else _epochs_done(m, epochs) for m in points]
        loss = [m.loss for m in points]
        y = loss if kind == "epoch" else smooth(loss)
        keep = bounded_indices(len(points))
        mode = "lines+markers" if kind == "epoch" else "lines"
        fig.add_scatter(x=[x[i] for i in keep], y=[y[i] for i in keep], mode=mode, name=plain(name))
    fig.update_layout(
        xaxis_title="training seconds" if x_axis == "seconds" else "epochs done",
        yaxis_title="epoch mean loss" if per == "epoch" else "step loss (smoothed)",
        height=380,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 1.1},
    )
    return fig


def _epochs_done(record: MetricRow, epochs: int) -> float:
    """An epoch record marks the end of its epoch; a step record sits at its fraction of the whole run."""
    return record.epoch if record.kind == "epoch" else record.fraction * epochs
