"""Where a map's text labels go: a greedy, collision-free placement in pixel space.

The chart knows its exact pixel size, axis ranges and label font (a monospace one, so a label's width is its
length times the font's advance), so each point's pixel position and each label's box are known before the
browser draws them. Labels are placed in order of priority:

- `must` (a searched word and its neighbours): always labelled. First beside the point; else farther out, in
  rings of growing radius, joined to the point by a leader line; else in any free place of the plot, along
  its sides first, also with a leader line.
- `wanted` (a clicked word's neighbours, a chosen cluster, a selection): the same search, but a label that
  finds no room is left out.
- `extra` (the most frequent words): only right beside their point, up to `limit` of them.

No label overlaps another, crosses a leader line drawn before it or covers the point of a `must` or `wanted`
word. A leader line crosses no label where a place within `CLEAR_REACH` allows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

GAP = 2.0  # pixels between a point's edge and its label, and between two labels
RING_ANGLES = 24  # directions tried on each ring around a point
SIDE_MARGIN = 4.0  # pixels between a label of the last resort and the plot's edge
GRID_STEP = 8.0  # pixels between two places of the last resort along a row
CLEAR_REACH = 8.0  # label heights: how far out a label goes to find a leader line that crosses no other label


@dataclass(frozen=True)
class Label:
    """A placed label: the row of its point, its centre in pixels (y grows downwards), its size, and whether a
    leader line joins it to its point (it sits away from it)."""

    index: int
    x: float
    y: float
    width: float
    height: float
    leader: bool

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) in pixels."""
        return (self.x - self.width / 2, self.y - self.height / 2, self.x + self.width / 2, self.y + self.height / 2)


@dataclass(frozen=True)
class Canvas:
    """The plot area in pixels, the label boxes' height, and the radius of a drawn point."""

    width: float
    height: float
    label_height: float
    point_radius: float = 5.0


def intersects(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether two (left, top, right, bottom) boxes share any area."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def leader_end(label: Label, x: float, y: float) -> tuple[float, float]:
    """The point of the label's box nearest to (x, y), where its leader line ends."""
    left, top, right, bottom = label.box
    return min(max(x, left), right), min(max(y, top), bottom)


def crossings(starts: np.ndarray, ends: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(segments, boxes): whether each segment from `starts` to `ends` passes through the inside of each
    (left, top, right, bottom) box (the slab test: the stretches of the segment inside the box's x range and
    inside its y range overlap)."""
    enter, leave = np.zeros((len(starts), len(boxes))), np.ones((len(starts), len(boxes)))
    for axis in (0, 1):
        origin, delta = starts[:, axis : axis + 1], (ends - starts)[:, axis : axis + 1]
        low, high = boxes[None, :, axis], boxes[None, :, axis + 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            first, second = (low - origin) / delta, (high - origin) / delta
        still = delta == 0  # parallel to this axis: inside the slab all along, or never
        inside = (origin > low) & (origin < high)
        enter = np.maximum(enter, np.where(still, np.where(inside, -np.inf, np.inf), np.minimum(first, second)))
        leave = np.minimum(leave, np.where(still, np.where(inside, np.inf, -np.inf), np.maximum(first, second)))
    return enter < leave - 1e-9


class _Board:
    """Placed boxes and leader lines and the points labels must leave visible, with vectorised tests of
    candidate boxes."""

    def __init__(self, canvas: Canvas, guarded: np.ndarray) -> None:
        self.canvas = canvas
        self.boxes = np.empty((0, 4))
        self.leaders = np.empty((0, 4))  # (x0, y0, x1, y1) of each leader line drawn so far
        self.guarded = guarded.reshape(-1, 2)

    def free(self, candidates: np.ndarray, point: np.ndarray | None = None, strict: bool = True) -> np.ndarray:
        """Which (left, top, right, bottom) candidates lie inside the plot, clear of every placed box (by `GAP`),
        every guarded point and (when `strict`) every leader line; with a `point`, also whether the leader line
        from it to the candidate crosses no placed box."""
        c, r = self.canvas, self.canvas.point_radius
        left, top, right, bottom = (candidates[:, k : k + 1] for k in range(4))
        ok = (left[:, 0] >= 0) & (top[:, 0] >= 0) & (right[:, 0] <= c.width) & (bottom[:, 0] <= c.height)
        if len(self.boxes):
            b = self.boxes.T
            hit = (left < b[2] + GAP) & (b[0] < right + GAP) & (top < b[3] + GAP) & (b[1] < bottom + GAP)
            ok &= ~hit.any(axis=1)
        if len(self.guarded):
            g = self.guarded.T
            covers = (left < g[0] + r) & (g[0] - r < right) & (top < g[1] + r) & (g[1] - r < bottom)
            ok &= ~covers.any(axis=1)
        if strict and len(self.leaders):
            ok &= ~crossings(self.leaders[:, :2], self.leaders[:, 2:], candidates).any(axis=0)
        if point is not None and len(self.boxes):
            starts = np.broadcast_to(point, (len(candidates), 2))
            ends = np.clip(starts, candidates[:, :2], candidates[:, 2:])
            ok &= ~crossings(starts, ends, self.boxes).any(axis=1)
        return ok

    def take(self, index: int, centre: np.ndarray, width: float, point: np.ndarray | None) -> Label:
        """Place a label; with a `point`, joined to it by a leader line."""
        label = Label(index, float(centre[0]), float(centre[1]), width, self.canvas.label_height, point is not None)
        self.boxes = np.vstack([self.boxes, label.box])
        if point is not None:
            self.leaders = np.vstack([self.leaders, [*point, *leader_end(label, *point)]])
        return label


def _boxes(centres: np.ndarray, width: float, height: float) -> np.ndarray:
    half = np.array([width / 2, height / 2])
    return np.hstack([centres - half, centres + half])


def beside(x: float, y: float, width: float, canvas: Canvas) -> np.ndarray:
    """Label centres right beside a point, best first: above, below, right, left, then the four corners."""
    dx = canvas.point_radius + GAP + width / 2
    dy = canvas.point_radius + GAP + canvas.label_height / 2
    offsets = [(0, -dy), (0, dy), (dx, 0), (-dx, 0), (dx, -dy), (-dx, -dy), (dx, dy), (-dx, dy)]
    return np.array([(x + a, y + b) for a, b in offsets])


def rings(x: float, y: float, canvas: Canvas) -> np.ndarray:
    """Label centres on circles of growing radius around a point (one label height apart), out to the plot's
    far corner, nearest first."""
    reach = float(np.hypot(canvas.width, canvas.height))
    radii = np.arange(2.5 * canvas.label_height, reach, canvas.label_height)
    angles = np.linspace(0.0, 2 * np.pi, RING_ANGLES, endpoint=False)
    dx = (radii[:, None] * np.cos(angles)[None, :]).ravel()
    dy = (radii[:, None] * np.sin(angles)[None, :]).ravel()
    return np.column_stack([x + dx, y + dy])


def anywhere(y: float, width: float, canvas: Canvas) -> np.ndarray:
    """Label centres on a grid over the whole plot (one label height by `GRID_STEP` pixels), the rows level
    with the point first and the right and left edges first in each row: the last resort of a `must` label."""
    h = canvas.label_height + GAP
    rows = np.arange(h / 2, canvas.height - h / 2 + 1e-9, h)
    rows = rows[np.argsort(np.abs(rows - y), kind="stable")]
    xs = np.arange(SIDE_MARGIN + width / 2, canvas.width - SIDE_MARGIN - width / 2 + 1e-9, GRID_STEP)
    xs = xs[np.argsort(-np.abs(xs - canvas.width / 2), kind="stable")]
    return np.array([(x, row) for row in rows for x in xs]).reshape(-1, 2)


def place_labels(
    points: np.ndarray,
    widths: np.ndarray,
    canvas: Canvas,
    must: Sequence[int],
    wanted: Sequence[int] = (),
    extra: Sequence[int] = (),
    limit: int = 0,
) -> list[Label]:
    """Labels for the rows of `points` (pixel positions, y down) whose label boxes are `widths` wide; see the
    module's docstring for the order. A row listed twice keeps its first place. A `must` label that finds no
    room anywhere (a plot too small for them all) is left out; callers can compare the count."""
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    widths = np.asarray(widths, dtype=float)
    must, wanted, extra = _first_places(must, wanted, extra)
    board = _Board(canvas, points[[*must, *wanted]])
    placed: list[Label] = []
    for group, sides in ((must, True), (wanted, False)):
        for i in group:
            if (label := _place_far(board, i, points[i], widths[i], sides)) is not None:
                placed.append(label)
    taken = 0
    for i in extra:
        if taken >= limit:
            break
        x, y = points[i]
        centres = beside(x, y, widths[i], canvas)
        ok = board.free(_boxes(centres, widths[i], canvas.label_height))
        if ok.any():
            placed.append(board.take(i, centres[int(np.argmax(ok))], widths[i], None))
            taken += 1
    return placed


def _first_places(*groups: Sequence[int]) -> list[list[int]]:
    """The groups with every row kept only where it first appears."""
    seen: set[int] = set()
    kept = []
    for group in groups:
        kept.append([i for i in dict.fromkeys(int(i) for i in group) if i not in seen])
        seen.update(kept[-1])
    return kept


def _place_far(board: _Board, index: int, point: np.ndarray, width: float, sides: bool) -> Label | None:
    """Beside the point; else on the nearest free ring position within `CLEAR_REACH` whose leader line crosses
    no label; else on the nearest free ring position (its leader may cross a label, which stays legible over
    it: a long leader across the map reads worse); else (when `sides`) anywhere free, the plot's sides first,
    at last even over a leader line."""
    x, y = point
    height = board.canvas.label_height
    around = rings(x, y, board.canvas)
    near = around[np.hypot(*(around - point).T) <= CLEAR_REACH * height]
    everywhere = anywhere(y, width, board.canvas) if sides else np.empty((0, 2))
    # (centres, drawn with a leader line, that line kept off other labels, kept off other leader lines)
    tries = [
        (beside(x, y, width, board.canvas), False, False, True),
        (near, True, True, True),
        (around, True, False, True),
        (everywhere, True, False, True),
        (everywhere, True, False, False),
    ]
    for centres, leader, clear, strict in tries:
        ok = board.free(_boxes(centres, width, height), point if clear else None, strict)
        if ok.any():
            return board.take(index, centres[int(np.argmax(ok))], width, point if leader else None)
    return None
