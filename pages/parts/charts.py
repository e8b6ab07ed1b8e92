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

from core.explore.labels import Canvas, Label, leader_end, place_labels
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


MAP_FONT = "DejaVu Sans Mono, Menlo, Consolas, 'Liberation Mono', 'Courier New', monospace"  # labels' font
LABEL_SIZE = 12  # px
# A monospace character's advance, in em: DejaVu Sans Mono and Menlo 0.602, Courier New 0.600, Consolas 0.55.
# Chromium draws DejaVu Sans Mono's at 0.602 (tests/test_browser_maps.py measures it); 0.62 leaves a margin.
CHAR_EM = 0.62
LABEL_HEIGHT_EM = 1.3  # a label box's height; the glyphs' own box (ascent + descent) is 1.16 em in DejaVu Sans Mono
LABEL_PAD = 4.0  # px added to each label box's width
POINT_RADIUS = 7.0  # px kept clear around a point of the searched or clicked words (their rings are 13 px wide)
MUST_COLOUR, CLICKED_COLOUR, LABEL_COLOUR, LEADER_COLOUR = "crimson", "#1c2430", "#39424e", "#8a97a8"


@dataclass(frozen=True)
class MapSize:
    """A map's size in pixels: its figure and margins (the title above, the legend below), fixed, so that a
    point's pixel position, and so where its label fits, is known before the browser draws it."""

    width: int = 1040  # fits beside the sidebar of a 1400-px window
    height: int = 820
    left: int = 8
    right: int = 8
    top: int = 36
    bottom: int = 72

    @property
    def plot(self) -> tuple[int, int]:
        """The plot area's width and height."""
        return self.width - self.left - self.right, self.height - self.top - self.bottom


@dataclass(frozen=True)
class MapAxes:
    """The axis ranges of a 2-D map and the pixels of its plot area: data to pixels and back, exactly."""

    x: tuple[float, float]
    y: tuple[float, float]
    size: MapSize

    @classmethod
    def around(cls, xs: np.ndarray, ys: np.ndarray, size: MapSize, pad: float = 0.03) -> MapAxes:
        """Ranges holding every point with `pad` of the span to spare on each side."""

        def span(values: np.ndarray) -> tuple[float, float]:
            low, high = float(np.min(values)), float(np.max(values))
            extra = max(high - low, 1e-9) * pad
            return low - extra, high + extra

        return cls(span(xs), span(ys), size)

    def to_pixels(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """(n, 2) positions in the plot area, from its top left corner, y growing downwards."""
        width, height = self.size.plot
        px = (np.asarray(xs, float) - self.x[0]) / (self.x[1] - self.x[0]) * width
        py = (self.y[1] - np.asarray(ys, float)) / (self.y[1] - self.y[0]) * height
        return np.column_stack([px, py])

    def to_data(self, px: float, py: float) -> tuple[float, float]:
        width, height = self.size.plot
        return (
            self.x[0] + px / width * (self.x[1] - self.x[0]),
            self.y[1] - py / height * (self.y[1] - self.y[0]),
        )


def label_width(word: str) -> float:
    """A label's width in pixels in the monospace `MAP_FONT`, with a margin."""
    return len(word) * CHAR_EM * LABEL_SIZE + LABEL_PAD


@dataclass(frozen=True)
class MapLabels:
    """Which words a map labels: `must` always (the searched word and its neighbours), `wanted` where they fit
    (a clicked word and its neighbours, a chosen cluster or selection), then up to `limit` of the most frequent
    words that fit beside their points. `clicked` words are ringed."""

    must: Sequence[str] = ()
    wanted: Sequence[str] = ()
    limit: int = 40
    clicked: Sequence[str] = ()


def place_map_labels(frame: pd.DataFrame, axes: MapAxes, labels: MapLabels) -> list[Label]:
    """Collision-free labels for a 2-D map (`core.explore.labels`), in plot-area pixels."""
    rows = {w: i for i, w in reversed(list(enumerate(frame["word"])))}
    widths = np.array([label_width(w) for w in frame["word"]])
    canvas = Canvas(*axes.size.plot, label_height=LABEL_HEIGHT_EM * LABEL_SIZE, point_radius=POINT_RADIUS)
    return place_labels(
        axes.to_pixels(frame["x"], frame["y"]),
        widths,
        canvas,
        must=[rows[w] for w in labels.must if w in rows],
        wanted=[rows[w] for w in labels.wanted if w in rows],
        extra=np.argsort(frame["rank"].to_numpy(), kind="stable"),
        limit=labels.limit,
    )


def map_figure(
    frame: pd.DataFrame,
    color_by: str,
    query: str | None,
    title: str = "",
    labels: MapLabels | None = None,
    size: MapSize | None = None,
    revision: str | None = None,
) -> go.Figure:
    """Scatter of a word map (2-D or 3-D) of a fixed pixel `size`: a legend of clusters or a colour bar of
    frequency below it, the focus words (a query and its neighbours) ringed, the `labels` placed without
    overlap in 2-D (with leader lines to points they had to leave). Each point carries its word as `customdata`,
    so a click or a selection names its words; a click fades the other points only to `UNSELECTED`.
    `revision` is plotly's `uirevision`: the same value asks plotly to keep the user's zoom or 3-D camera."""
    labels = labels or MapLabels(must=tuple(frame.loc[frame["focus"], "word"]))
    size = size or MapSize()
    frame = frame.reset_index(drop=True)
    fig = go.Figure()
    _add_points(fig, frame, color_by)
    for words, name, colour in (
        (labels.must, f"{plain(query or '')} and its neighbours", MUST_COLOUR),
        (
            labels.clicked,
            f"clicked: {plain(labels.clicked[0])} and its neighbours" if labels.clicked else "",
            CLICKED_COLOUR,
        ),
    ):
        order = {w: i for i, w in enumerate(words)}
        rows = frame[frame["word"].isin(words)]
        if len(rows):  # in the order given: the searched or clicked word first
            _add_rings(
                fig, rows.iloc[np.argsort(rows["word"].map(order).to_numpy(), kind="stable")], query, name, colour
            )
    if "z" in frame:
        _label_3d(fig, frame, labels)
    else:
        _label_2d(fig, frame, labels, size)
    fig.update_layout(
        title={"text": plain(title), "x": 0.01},
        width=size.width,
        height=size.height,
        margin={"l": size.left, "r": size.right, "t": size.top, "b": size.bottom, "autoexpand": False},
        showlegend=color_by == "cluster" or bool(labels.must),
        # Below the plot, never over its points (a legend inside the plot covered words and took their clicks).
        legend={"itemsizing": "constant", "orientation": "h", "x": 0, "y": -0.01, "yanchor": "top"},
        uirevision=revision,
    )
    return fig


UNSELECTED = 0.6  # the opacity of the points a click or a selection leaves out: faded, still readable


def _add_points(fig: go.Figure, frame: pd.DataFrame, color_by: str) -> None:
    groups = [
        (f"cluster {c}: {_cluster_name(frame, c)}", frame["cluster"] == c) for c in sorted(frame["cluster"].unique())
    ]
    if color_by != "cluster":
        groups = [("words", pd.Series(True, index=frame.index))]
    three_d = "z" in frame
    for n, (name, member) in enumerate(groups):
        rows = frame[member]
        marker: dict[str, Any] = {"size": 4 if three_d else 7, "opacity": 0.8}
        if color_by == "cluster":
            marker["color"] = PALETTE[n % len(PALETTE)]
        else:
            # Below the plot on the right, the legend being on the left.
            bar = {"title": {"text": "log10 count", "side": "top"}, "orientation": "h", "x": 1, "xanchor": "right"}
            bar.update(y=-0.01, yanchor="top", len=0.35, thickness=10)
            marker.update(color=np.log10(rows["count"].clip(lower=1)), colorscale="Viridis", colorbar=bar)
        words = rows["word"].map(plain)
        hover = words + " · rank " + rows["rank"].astype(str) + " · count " + rows["count"].astype(str)
        hover += " · cluster " + rows["cluster"].astype(str)
        points = {"hovertext": hover, "hoverinfo": "text", "customdata": rows["word"], "marker": marker}
        points.update(name=plain(name), mode="markers")
        if three_d:
            fig.add_scatter3d(x=rows["x"], y=rows["y"], z=rows["z"], **points)
        else:
            fig.add_scatter(
                x=rows["x"],
                y=rows["y"],
                **points,
                selected={"marker": {"opacity": 1.0}},
                unselected={"marker": {"opacity": UNSELECTED}},
            )


def _add_rings(fig: go.Figure, rows: pd.DataFrame, query: str | None, name: str, colour: str) -> None:
    """Ring a group of words (the query as a star), on top of the map; `text` names them for hovers and tests."""
    three_d = "z" in rows
    is_query = (rows["word"] == query).to_numpy()
    marker = {
        "size": np.where(is_query, 18, 13).tolist(),
        "color": colour,
        "symbol": np.where(is_query, "diamond" if three_d else "star", "circle-open").tolist(),
        "line": {"width": 2, "color": colour},
    }
    common = {"text": rows["word"].map(plain), "customdata": rows["word"], "mode": "markers", "name": name}
    common.update(marker=marker, hoverinfo="text")
    if three_d:
        fig.add_scatter3d(x=rows["x"], y=rows["y"], z=rows["z"], **common)
    else:
        fig.add_scatter(x=rows["x"], y=rows["y"], **common, unselected={"marker": {"opacity": 1.0}})


def _label_2d(fig: go.Figure, frame: pd.DataFrame, labels: MapLabels, size: MapSize) -> None:
    """Text labels at the places `place_map_labels` found, leader lines to the points they had to leave, and
    axes fixed to the ranges the places were computed for."""
    axes = MapAxes.around(frame["x"].to_numpy(), frame["y"].to_numpy(), size)
    placed = place_map_labels(frame, axes, labels)
    points = axes.to_pixels(frame["x"], frame["y"])
    lines: tuple[list[float | None], list[float | None]] = ([], [])
    for label in placed:
        if label.leader:
            x, y = points[label.index]
            for axis, (a, b) in enumerate(zip(axes.to_data(x, y), axes.to_data(*leader_end(label, x, y)), strict=True)):
                lines[axis].extend((a, b, None))
    if lines[0]:
        fig.add_scatter(
            x=lines[0],
            y=lines[1],
            mode="lines",
            line={"width": 1, "color": LEADER_COLOUR},
            hoverinfo="skip",
            showlegend=False,
        )
    must, wanted = set(labels.must), set(labels.wanted)
    for tier, colour, weight in (
        ("must", MUST_COLOUR, "bold"),
        ("wanted", CLICKED_COLOUR, "bold"),
        ("extra", LABEL_COLOUR, "normal"),
    ):
        chosen = [label for label in placed if _tier(frame["word"].iloc[label.index], must, wanted) == tier]
        if not chosen:
            continue
        xy = [axes.to_data(label.x, label.y) for label in chosen]
        # A halo of the background's colour keeps a label legible over points and leader lines.
        font = {"family": MAP_FONT, "size": LABEL_SIZE, "color": colour, "weight": weight, "shadow": "auto"}
        fig.add_scatter(
            x=[a for a, _ in xy],
            y=[b for _, b in xy],
            text=[plain(frame["word"].iloc[label.index]) for label in chosen],
            mode="text",
            textposition="middle center",
            textfont=font,
            selected={"textfont": {"color": colour}},
            unselected={"textfont": {"color": colour}},
            hoverinfo="skip",
            showlegend=False,
            name=f"{tier} labels",
        )
    fixed = {"visible": False, "autorange": False}
    fig.update_layout(xaxis={**fixed, "range": list(axes.x)}, yaxis={**fixed, "range": list(axes.y)})


def _tier(word: str, must: set[str], wanted: set[str]) -> str:
    return "must" if word in must else "wanted" if word in wanted else "extra"


def _label_3d(fig: go.Figure, frame: pd.DataFrame, labels: MapLabels) -> None:
    """3-D labels turn with the camera, so no placement holds: the priority words and the `limit` most
    frequent words carry their text. A drag turns the map about its centre (turntable), it never pans."""
    chosen = frame["word"].isin([*labels.must, *labels.wanted]) | (frame["rank"] <= labels.limit)
    rows = frame[chosen]
    font = {"family": MAP_FONT, "size": LABEL_SIZE, "color": LABEL_COLOUR}
    fig.add_scatter3d(
        x=rows["x"],
        y=rows["y"],
        z=rows["z"],
        text=rows["word"].map(plain),
        mode="text",
        textfont=font,
        hoverinfo="skip",
        showlegend=False,
        name="labels",
    )
    fig.update_layout(scene={"aspectmode": "cube", "dragmode": "turntable", "domain": {"x": [0, 1], "y": [0, 1]}})


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


def progress_figure(coords: np.ndarray, words: list[str], title: str, size: MapSize | None = None) -> go.Figure:
    """A t-SNE layout in the making: plain points, the title saying how far it is, at the map's size."""
    size = size or MapSize()
    fig = go.Figure()
    hover = [plain(w) for w in words]
    common = {"mode": "markers", "hovertext": hover, "hoverinfo": "text"}
    if coords.shape[1] == 3:
        fig.add_scatter3d(
            x=coords[:, 0], y=coords[:, 1], z=coords[:, 2], **common, marker={"size": 3, "color": LEADER_COLOUR}
        )
    else:
        fig.add_scatter(x=coords[:, 0], y=coords[:, 1], **common, marker={"size": 6, "color": LEADER_COLOUR})
    fig.update_layout(
        title={"text": plain(title), "x": 0.01},
        width=size.width,
        height=size.height,
        margin={"l": size.left, "r": size.right, "t": size.top, "b": size.bottom, "autoexpand": False},
    )
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
