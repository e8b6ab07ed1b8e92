"""The loss chart of a run that is training, as an SVG image.

The page redraws it every poll. A Plotly redraw builds the whole figure again in the browser: on
two cores the browser then spent about half a core per redraw each second and the training ran at
0.4x its command-line speed. This drawing is a few SVG paths, about as cheap as no chart; the
interactive Plotly chart (`pages.parts.charts.loss_figure`) shows once the run stops.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from core.runs import MetricsReader

WIDTH, HEIGHT = 900.0, 340.0
LEFT, RIGHT, TOP, BOTTOM = 64.0, 16.0, 34.0, 44.0  # margins: tick labels left and below, legend above
Scale = Callable[[float], float]  # a data value to its SVG coordinate
COLOURS = {"step loss": "#636efa", "smoothed": "#ef553b", "epoch mean": "#00cc96"}


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round values (steps of 1, 2, 2.5 or 5 times a power of ten) covering low..high."""
    if high - low <= 1e-9 * max(abs(low), abs(high), 1.0):  # flat, up to rounding (0.6 and 0.6000000000000001)
        high = low + (abs(low) or 1.0) * 0.1
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(math.ceil((high - first) / step - 1e-9) + 1)]


def _label(value: float, step: float) -> str:
    """A tick label with as many decimals as the step needs (0.025 -> 3, 2.5 -> 1, 20 -> 0)."""
    decimals = max(0, -math.floor(math.log10(step)))
    if round(step * 10**decimals, 6) % 1:
        decimals += 1
    return f"{value:.{decimals}f}"


def loss_svg(curve: MetricsReader, epochs: int) -> str:
    """Step losses as dots, their smoothed line and the epoch means against epochs done, with axes and
    a legend: the same series as the interactive chart, at most `CHART_POINTS` dots however long the run."""
    fractions, loss, smoothed = curve.chart_points()
    x = [f * epochs for f in fractions]
    means = [(m.epoch, m.loss) for m in curve.epochs]
    values = [*loss, *smoothed, *(v for _, v in means)]
    y_ticks = nice_ticks(min(values), max(values)) if values else [0.0, 1.0]
    x_ticks = nice_ticks(0.0, float(epochs), 6)
    x_ticks = [t for t in x_ticks if t <= epochs]

    def px(value: float) -> float:
        return LEFT + value / epochs * (WIDTH - LEFT - RIGHT)

    def py(value: float) -> float:
        span = y_ticks[-1] - y_ticks[0]
        return TOP + (y_ticks[-1] - value) / span * (HEIGHT - TOP - BOTTOM)

    parts = [*_axes(x_ticks, y_ticks, px, py), *_legend()]
    dots = "".join(f"M{px(a):.1f} {py(b):.1f}h0" for a, b in zip(x, loss, strict=True))
    parts.append(_path(dots, COLOURS["step loss"], 5, 'stroke-linecap="round" opacity="0.45"'))
    parts.append(_path(_polyline(x, smoothed, px, py), COLOURS["smoothed"], 2))
    if means:
        parts.append(_path(_polyline([e for e, _ in means], [v for _, v in means], px, py), COLOURS["epoch mean"], 2))
        diamonds = "".join(f"M{px(e):.1f} {py(v) - 5:.1f}l5 5l-5 5l-5 -5z" for e, v in means)
        parts.append(f'<path d="{diamonds}" fill="{COLOURS["epoch mean"]}"/>')
    body = "".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH:.0f} {HEIGHT:.0f}" '
        f'width="{WIDTH:.0f}" height="{HEIGHT:.0f}" '
        f'font-family="sans-serif" font-size="12" fill="#1c2430">{body}</svg>'
    )


def _axes(x_ticks: Sequence[float], y_ticks: Sequence[float], px: Scale, py: Scale) -> list[str]:
    """Grid lines with their tick labels, and the two axis titles."""
    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0
    y_step = y_ticks[1] - y_ticks[0]
    bottom, top = HEIGHT - BOTTOM, TOP
    parts = []
    for t in y_ticks:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#e5e9f0"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{py(t) + 4:.1f}" text-anchor="end">{_label(t, y_step)}</text>')
    for t in x_ticks:
        parts.append(f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{top}" y2="{bottom}" stroke="#e5e9f0"/>')
        parts.append(f'<text x="{px(t):.1f}" y="{bottom + 16}" text-anchor="middle">{_label(t, x_step)}</text>')
    parts.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 6}" text-anchor="middle">epoch</text>')
    middle = (top + bottom) / 2
    parts.append(
        f'<text transform="translate(14 {middle}) rotate(-90)" text-anchor="middle">loss (binary cross-entropy)</text>'
    )
    return parts


def _legend() -> list[str]:
    parts, x = [], LEFT
    for name, colour in COLOURS.items():
        parts.append(f'<rect x="{x}" y="8" width="14" height="4" fill="{colour}"/>')
        parts.append(f'<text x="{x + 20}" y="14">{name}</text>')
        x += 30 + 7 * len(name)
    return parts


def _polyline(xs: Sequence[float], ys: Sequence[float], px: Scale, py: Scale) -> str:
    return "M" + "L".join(f"{px(a):.1f} {py(b):.1f}" for a, b in zip(xs, ys, strict=True)) if xs else ""


def _path(d: str, colour: str, width: float, extra: str = "") -> str:
    return f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="{width}" {extra}/>'
