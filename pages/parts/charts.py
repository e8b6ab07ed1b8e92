"""Every chart of the app, as plain functions of data (no Streamlit calls): Plotly figures, and the loss
chart of a run that is training as an SVG image.

The SVG is what the page redraws each second while a run trains. A Plotly redraw builds the whole figure
again in the browser: on two cores the browser then spent about half a core per redraw and the training
ran at 0.4x its command-line speed. The SVG is a few paths, about as cheap as no chart; the interactive
`loss_figure` shows once the run stops. Both draw the same series in the same colours (`LOSS_COLOURS`).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.runs import MetricRow, MetricsReader, bounded_indices
from core.runs.records import MAX_SMOOTHING, SMOOTHING, smoothed

LOSS_COLOURS = {"step loss": "#636efa", "smoothed": "#ef553b", "epoch mean": "#00cc96"}  # the loss charts' series
LOSS_AXIS = "loss (binary cross-entropy)"


@dataclass(frozen=True)
class LossView:
    """How a loss chart is drawn: the smoothing weight of its moving average (0 draws the losses themselves, at
    most `MAX_SMOOTHING`, in hundredths) and whether its loss axis is logarithmic."""

    smoothing: float = SMOOTHING
    log: bool = False

    def __post_init__(self) -> None:
        weight = self.smoothing if math.isfinite(self.smoothing) else SMOOTHING
        object.__setattr__(self, "smoothing", round(min(max(weight, 0.0), MAX_SMOOTHING), 2))

    def query(self) -> str:
        """The view as a URL query, as the live panel's feed reads it back (`from_query`)."""
        return f"smoothing={self.smoothing:g}&log={int(self.log)}"

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> LossView:
        """The view a query asks for; what cannot be read takes the default."""
        try:
            weight = float(query.get("smoothing", SMOOTHING))
        except ValueError:
            weight = SMOOTHING
        return cls(weight, query.get("log") == "1")


DEFAULT_VIEW = LossView()


def plain(text: str) -> str:
    """Text for plotly labels, titles and hovers: plotly reads a few HTML tags there, so corpus words are escaped
    (plotly turns the entities back into the characters, so `<b>` shows as typed and never as markup)."""
    return html.escape(text, quote=False)


def loss_figure(curve: MetricsReader, epochs: int, view: LossView = DEFAULT_VIEW) -> go.Figure:
    """Step losses as points, their smoothed line, and each epoch's mean loss, against epochs done.

    However long the run, at most `CHART_POINTS` step points are drawn (evenly spaced, the newest included).
    """
    fractions, loss, line = curve.chart_points(weight=view.smoothing)
    x = [f * epochs for f in fractions]
    fig = go.Figure()
    marker = {"size": 4, "opacity": 0.45, "color": LOSS_COLOURS["step loss"]}
    fig.add_scatter(x=x, y=loss, mode="markers", name="step loss", marker=marker)
    fig.add_scatter(x=x, y=line, mode="lines", name="smoothed", line={"width": 2, "color": LOSS_COLOURS["smoothed"]})
    fig.add_scatter(
        x=[m.epoch for m in curve.epochs],
        y=[m.loss for m in curve.epochs],
        mode="lines+markers",
        name="epoch mean",
        marker={"size": 9, "symbol": "diamond", "color": LOSS_COLOURS["epoch mean"]},
        line={"color": LOSS_COLOURS["epoch mean"]},
    )
    fig.update_layout(
        xaxis_title="epoch",
        yaxis_title=LOSS_AXIS,
        height=360,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 1.12},
        uirevision="loss",
    )
    fig.update_xaxes(range=[0, epochs])
    fig.update_yaxes(type="log" if view.log else "linear")
    return fig


SVG_WIDTH, SVG_HEIGHT = 900.0, 340.0
LEFT, RIGHT, TOP, BOTTOM = 64.0, 16.0, 34.0, 44.0  # margins: tick labels left and below, legend above
Scale = Callable[[float], float]  # a data value to its SVG coordinate


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round values (steps of 1, 2, 2.5 or 5 times a power of ten) covering low..high."""
    if high - low <= 1e-9 * max(abs(low), abs(high), 1.0):  # flat, up to rounding (0.6 and 0.6000000000000001)
        high = low + (abs(low) or 1.0) * 0.1
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(math.ceil((high - first) / step - 1e-9) + 1)]


def log_ticks(low: float, high: float) -> list[float]:
    """Ticks of a logarithmic axis covering low..high (both > 0): 1, 2 and 5 times powers of ten, or, when
    fewer than three of those fall in the range (losses often span less than a factor of two), round values
    of the linear ticks, whose spacing on the axis then shows the log scale."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    marks = [m * 10.0**p for p in range(first, last + 1) for m in (1, 2, 5)]
    below = max((m for m in marks if m <= low), default=marks[0])
    above = min((m for m in marks if m >= high), default=marks[-1])
    inside = [m for m in marks if below <= m <= above]
    if len(inside) >= 4:
        return inside
    ticks = nice_ticks(low, high)
    return ticks if ticks[0] > 0 else [low, *ticks[1:]]


def _label(value: float, step: float) -> str:
    """A tick label with as many decimals as the step needs (0.025 -> 3, 2.5 -> 1, 20 -> 0)."""
    decimals = max(0, -math.floor(math.log10(step)))
    if round(step * 10**decimals, 6) % 1:
        decimals += 1
    return f"{value:.{decimals}f}"


def loss_svg(curve: MetricsReader, epochs: int, view: LossView = DEFAULT_VIEW) -> str:
    """Step losses as dots, their smoothed line and the epoch means against epochs done, with axes and
    a legend: the same series as `loss_figure`, at most `CHART_POINTS` dots however long the run."""
    fractions, loss, line = curve.chart_points(weight=view.smoothing)
    x = [f * epochs for f in fractions]
    means = [(m.epoch, m.loss) for m in curve.epochs]
    values = [*loss, *line, *(v for _, v in means)]
    log = view.log and bool(values) and min(values) > 0  # a loss of 0 has no place on a log axis
    y_ticks = (log_ticks if log else nice_ticks)(min(values), max(values)) if values else [0.0, 1.0]
    x_ticks = nice_ticks(0.0, float(epochs), 6)
    x_ticks = [t for t in x_ticks if t <= epochs]
    scale = math.log10 if log else float

    def px(value: float) -> float:
        return LEFT + value / epochs * (SVG_WIDTH - LEFT - RIGHT)

    def py(value: float) -> float:
        span = scale(y_ticks[-1]) - scale(y_ticks[0])
        return TOP + (scale(y_ticks[-1]) - scale(value)) / span * (SVG_HEIGHT - TOP - BOTTOM)

    parts = [*_axes(x_ticks, y_ticks, px, py, log), *_legend()]
    dots = "".join(f"M{px(a):.1f} {py(b):.1f}h0" for a, b in zip(x, loss, strict=True))
    parts.append(_path(dots, LOSS_COLOURS["step loss"], 5, 'stroke-linecap="round" opacity="0.45"'))
    parts.append(_path(_polyline(x, line, px, py), LOSS_COLOURS["smoothed"], 2))
    if means:
        parts.append(
            _path(_polyline([e for e, _ in means], [v for _, v in means], px, py), LOSS_COLOURS["epoch mean"], 2)
        )
        diamonds = "".join(f"M{px(e):.1f} {py(v) - 5:.1f}l5 5l-5 5l-5 -5z" for e, v in means)
        parts.append(f'<path d="{diamonds}" fill="{LOSS_COLOURS["epoch mean"]}"/>')
    body = "".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SVG_WIDTH:.0f} {SVG_HEIGHT:.0f}" '
        f'width="{SVG_WIDTH:.0f}" height="{SVG_HEIGHT:.0f}" '
        f'font-family="sans-serif" font-size="12" fill="#1c2430">{body}</svg>'
    )


def _axes(x_ticks: Sequence[float], y_ticks: Sequence[float], px: Scale, py: Scale, log: bool) -> list[str]:
    """Grid lines with their tick labels, and the two axis titles."""
    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0
    y_step = y_ticks[1] - y_ticks[0]
    bottom, top = SVG_HEIGHT - BOTTOM, TOP
    parts = []
    for t in y_ticks:
        parts.append(f'<line x1="{LEFT}" x2="{SVG_WIDTH - RIGHT}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#e5e9f0"/>')
        label = f"{t:.3g}" if log else _label(t, y_step)
        parts.append(f'<text x="{LEFT - 6}" y="{py(t) + 4:.1f}" text-anchor="end">{label}</text>')
    for t in x_ticks:
        parts.append(f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{top}" y2="{bottom}" stroke="#e5e9f0"/>')
        parts.append(f'<text x="{px(t):.1f}" y="{bottom + 16}" text-anchor="middle">{_label(t, x_step)}</text>')
    parts.append(f'<text x="{(LEFT + SVG_WIDTH - RIGHT) / 2}" y="{SVG_HEIGHT - 6}" text-anchor="middle">epoch</text>')
    middle = (top + bottom) / 2
    title = f"{LOSS_AXIS}, log scale" if log else LOSS_AXIS
    parts.append(f'<text transform="translate(14 {middle}) rotate(-90)" text-anchor="middle">{title}</text>')
    return parts


def _legend() -> list[str]:
    parts, x = [], LEFT
    for name, colour in LOSS_COLOURS.items():
        parts.append(f'<rect x="{x}" y="8" width="14" height="4" fill="{colour}"/>')
        parts.append(f'<text x="{x + 20}" y="14">{name}</text>')
        x += 30 + 7 * len(name)
    return parts


def _polyline(xs: Sequence[float], ys: Sequence[float], px: Scale, py: Scale) -> str:
    return "M" + "L".join(f"{px(a):.1f} {py(b):.1f}" for a, b in zip(xs, ys, strict=True)) if xs else ""


def _path(d: str, colour: str, width: float, extra: str = "") -> str:
    return f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="{width}" {extra}/>'


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


LABEL_PX = (7.0, 16.0)  # width of one character and height of a label, in pixels, for the overlap test
MAP_PX = (900.0, 640.0)  # the plot area a map is laid out for


def spread_labels(frame: pd.DataFrame, limit: int) -> np.ndarray:
    """Which words get a text label: every focus word, then the most frequent words whose label overlaps no
    label chosen before, at most `limit` of them; the rest show on hover. So labels never pile up in the
    dense centre and spread over the map."""
    span_x = max(float(np.ptp(frame["x"])), 1e-12)
    span_y = max(float(np.ptp(frame["y"])), 1e-12)
    px = (frame["x"].to_numpy() - frame["x"].min()) / span_x * MAP_PX[0]
    py = (frame["y"].to_numpy() - frame["y"].min()) / span_y * MAP_PX[1]
    half = (frame["word"].str.len().to_numpy() * LABEL_PX[0] + 4) / 2
    focus = frame["focus"].to_numpy() if "focus" in frame else np.zeros(len(frame), bool)
    chosen = np.zeros(len(frame), bool)
    boxes: list[tuple[float, float, float, float]] = []
    order = [*np.flatnonzero(focus), *np.argsort(frame["rank"].to_numpy(), kind="stable")]
    for i in order:
        if chosen[i]:
            continue
        box = (px[i] - half[i], px[i] + half[i], py[i], py[i] + LABEL_PX[1])
        free = all(box[1] < b[0] or box[0] > b[1] or box[3] < b[2] or box[2] > b[3] for b in boxes)
        if focus[i] or (free and chosen.sum() - focus.sum() < limit):
            chosen[i] = True
            boxes.append(box)
    return chosen


def map_figure(frame: pd.DataFrame, color_by: str, labels: int, query: str | None, title: str = "") -> go.Figure:
    """Scatter of a word map (2-D or 3-D): labels that do not overlap, a legend of clusters or a colour bar of
    frequency, the focus words (a query and its neighbours) ringed and labelled; each point carries its row of
    `frame` as `customdata`, so a click names its word."""
    three_d = "z" in frame
    frame = frame.reset_index(drop=True)
    labelled = spread_labels(frame, labels) if not three_d else frame["focus"] | (frame["rank"] <= labels)
    fig = go.Figure()
    groups = [
        (f"cluster {c}: {_cluster_name(frame, c)}", frame["cluster"] == c) for c in sorted(frame["cluster"].unique())
    ]
    if color_by != "cluster":
        groups = [("words", pd.Series(True, index=frame.index))]
    for n, (name, member) in enumerate(groups):
        rows = frame[member]
        marker: dict[str, Any] = {"size": 4 if three_d else 7, "opacity": 0.8}
        if color_by == "cluster":
            marker["color"] = PALETTE[n % len(PALETTE)]
        else:
            log_count = np.log10(rows["count"].clip(lower=1))
            marker.update(color=log_count, colorscale="Viridis", colorbar={"title": "log10 count"})
        _add_points(fig, rows, labelled[member.to_numpy()], marker, name, three_d)
    focus = frame[frame["focus"]]
    if len(focus):
        _add_focus(fig, focus, query, three_d)
    fig.update_layout(
        title={"text": plain(title), "x": 0.01},
        height=700,
        margin={"l": 0, "r": 0, "t": 40 if title else 10, "b": 0},
        showlegend=color_by == "cluster" or len(focus) > 0,
        # Below the plot, never over its points (a legend inside the plot covered words and took their clicks).
        legend={"itemsizing": "constant", "orientation": "h", "x": 0, "y": -0.05, "yanchor": "top"},
    )
    if three_d:
        fig.update_layout(scene={"aspectmode": "cube", "domain": {"x": [0, 1], "y": [0, 1]}})
    return fig


PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def _cluster_name(frame: pd.DataFrame, cluster: int) -> str:
    """A cluster named by its three most frequent words."""
    return ", ".join(frame.loc[frame["cluster"] == cluster].nsmallest(3, "rank")["word"].map(plain))


def _add_points(
    fig: go.Figure, rows: pd.DataFrame, labelled: np.ndarray, marker: dict, name: str, three_d: bool
) -> None:
    words = rows["word"].map(plain)
    hover = words + " · rank " + rows["rank"].astype(str) + " · count " + rows["count"].astype(str)
    hover += " · cluster " + rows["cluster"].astype(str)
    text = words.where(labelled & ~rows["focus"].to_numpy(), "")  # focus words get their label on top
    points = {
        "x": rows["x"],
        "y": rows["y"],
        "text": text,
        "hovertext": hover,
        "hoverinfo": "text",
        "customdata": rows.index,
        "marker": marker,
        "name": plain(name),
        "mode": "markers+text",
        "textfont": {"size": 11, "color": "#39424e"},
    }
    if three_d:
        fig.add_scatter3d(**points, z=rows["z"])
    else:
        fig.add_scatter(**points, textposition="top center")


def _add_focus(fig: go.Figure, rows: pd.DataFrame, query: str | None, three_d: bool) -> None:
    """Ring the query word (star) and its neighbours (circles), labelled, on top of the map."""
    is_query = (rows["word"] == query).to_numpy()
    marker = {
        "size": np.where(is_query, 18, 13).tolist(),
        "color": "crimson",
        "symbol": np.where(is_query, "diamond" if three_d else "star", "circle-open").tolist(),
        "line": {"width": 2, "color": "crimson"},
    }
    common = {
        "x": rows["x"],
        "y": rows["y"],
        "text": rows["word"].map(plain),
        "customdata": rows.index,
        "mode": "markers+text",
        "name": f"{plain(query or '')} and its neighbours",
        "marker": marker,
        "textfont": {"size": 13, "color": "crimson"},
        "hoverinfo": "text",
    }
    if three_d:
        fig.add_scatter3d(**common, z=rows["z"])
    else:
        fig.add_scatter(**common, textposition="bottom center")


def progress_figure(coords: np.ndarray, words: list[str], title: str) -> go.Figure:
    """A t-SNE layout in the making: plain points, the title saying how far it is."""
    fig = go.Figure()
    hover = [plain(w) for w in words]
    if coords.shape[1] == 3:
        fig.add_scatter3d(
            x=coords[:, 0],
            y=coords[:, 1],
            z=coords[:, 2],
            mode="markers",
            hovertext=hover,
            hoverinfo="text",
            marker={"size": 3, "color": "#8a97a8"},
        )
    else:
        fig.add_scatter(
            x=coords[:, 0],
            y=coords[:, 1],
            mode="markers",
            hovertext=hover,
            hoverinfo="text",
            marker={"size": 6, "color": "#8a97a8"},
        )
    fig.update_layout(title={"text": plain(title), "x": 0.01}, height=700, margin={"l": 0, "r": 0, "t": 40, "b": 0})
    return fig


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
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},  # above the plot, never on a bar
    )
    return fig


def compare_loss_figure(
    curves: dict[str, tuple[list[MetricRow], int]], per: str, x_axis: str, view: LossView = DEFAULT_VIEW
) -> go.Figure:
    """Loss curves of several runs (metrics, configured epochs) on one chart: epoch means or smoothed step
    losses (smoothed as the Train page's chart does), against epochs done or training seconds."""
    fig = go.Figure()
    kind = "epoch" if per == "epoch" else "step"
    for name, (records, epochs) in curves.items():
        points = [m for m in records if m.kind == kind]
        x = [m.elapsed_s if x_axis == "seconds" else _epochs_done(m, epochs) for m in points]
        loss = [m.loss for m in points]
        y = loss if kind == "epoch" else smoothed(loss, view.smoothing)
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
    fig.update_yaxes(type="log" if view.log else "linear")
    return fig


def _epochs_done(record: MetricRow, epochs: int) -> float:
    """An epoch record marks the end of its epoch; a step record sits at its fraction of the whole run."""
    return record.epoch if record.kind == "epoch" else record.fraction * epochs


def length_histogram(before: np.ndarray, after: np.ndarray) -> go.Figure:
    """Tokens per sentence before and after subsampling, overlaid (the book's Fig. 15.3.1)."""
    fig = go.Figure()
    longest = int(max(before.max(initial=0), after.max(initial=0)))
    edges = {"start": 0, "end": longest + 5, "size": max(5, 5 * round(longest / 200))}  # about 40 bars
    for name, lengths in (("origin", before), ("subsampled", after)):
        fig.add_histogram(x=lengths, name=name, xbins=edges, opacity=0.6)
    fig.update_layout(
        barmode="overlay",
        xaxis_title="# tokens per sentence",
        yaxis_title="count",
        height=320,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 1.12},
    )
    return fig


def noise_bars(words: list[str], unigram: list[float], noise: list[float]) -> go.Figure:
    """The unigram P(w) beside the noise distribution P(w)^0.75 (renormalised) of the most frequent words."""
    labels = [plain(w) for w in words]
    fig = go.Figure()
    fig.add_bar(x=labels, y=unigram, name="unigram P(w)")
    fig.add_bar(x=labels, y=noise, name="noise ∝ P(w)^0.75")
    fig.update_layout(
        barmode="group",
        yaxis={"title": "probability", "tickformat": ".1%"},
        height=340,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 1.12},
    )
    return fig
