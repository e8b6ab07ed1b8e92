"""Label placement (core.explore.labels): no two labels overlap, the priority words are always labelled, a
displaced label gets a leader line, and a tight group of 11 words at one point is labelled in full."""

from __future__ import annotations

import numpy as np

from core.explore.labels import Canvas, Label, crossings, intersects, leader_end, place_labels

CANVAS = Canvas(width=1000.0, height=700.0, label_height=16.0, point_radius=7.0)


def widths(n: int, chars: int = 8) -> np.ndarray:
    return np.full(n, chars * 7.5 + 4)


def assert_apart(labels: list[Label]) -> None:
    for a, first in enumerate(labels):
        for second in labels[a + 1 :]:
            assert not intersects(first.box, second.box), (first, second)


def assert_inside(labels: list[Label], canvas: Canvas = CANVAS) -> None:
    for label in labels:
        left, top, right, bottom = label.box
        assert left >= 0 and top >= 0 and right <= canvas.width and bottom <= canvas.height, label


def covers(label: Label, point: np.ndarray, radius: float) -> bool:
    left, top, right, bottom = label.box
    return (
        left < point[0] + radius
        and point[0] - radius < right
        and top < point[1] + radius
        and point[1] - radius < bottom
    )


def test_a_tight_group_of_eleven_at_one_point_is_labelled_in_full_with_leaders() -> None:
    points = np.full((11, 2), [500.0, 350.0])
    placed = place_labels(points, widths(11), CANVAS, must=range(11))
    assert sorted(label.index for label in placed) == list(range(11))
    assert_apart(placed)
    assert_inside(placed)
    assert sum(label.leader for label in placed) >= 3  # eight places touch the point; the rest lie farther out
    for label in placed:
        assert not covers(label, points[0], CANVAS.point_radius)  # the point itself stays visible
        if not label.leader:  # a label without a leader line touches its point
            assert np.hypot(label.x - 500, label.y - 350) < label.width / 2 + CANVAS.label_height + CANVAS.point_radius


def test_no_label_lies_over_a_leader_line_drawn_before_it() -> None:
    points = np.full((11, 2), [500.0, 350.0])
    placed = place_labels(points, widths(11), CANVAS, must=range(11))
    for n, label in enumerate(placed):
        if label.leader:
            start, end = np.array([points[0]]), np.array([leader_end(label, *points[0])])
            later = np.array([other.box for other in placed[n + 1 :]]).reshape(-1, 4)
            assert not crossings(start, end, later).any(), label


def test_crossings_sees_a_segment_through_a_box_and_not_one_that_ends_at_its_edge() -> None:
    box = np.array([[10.0, 10.0, 20.0, 20.0]])
    starts = np.array([[0.0, 15.0], [0.0, 15.0], [0.0, 5.0], [15.0, 0.0], [0.0, 0.0]])
    ends = np.array([[30.0, 15.0], [10.0, 15.0], [30.0, 5.0], [15.0, 30.0], [30.0, 30.0]])
    assert crossings(starts, ends, box)[:, 0].tolist() == [True, False, False, True, True]


def test_priority_words_in_a_dense_crowd_are_always_placed_and_extras_only_where_they_fit() -> None:
    rng = np.random.default_rng(0)
    n = 1000
    points = np.column_stack([rng.normal(500, 120, n), rng.normal(350, 90, n)]).clip([0, 0], [1000, 700])
    must = [700, *range(990, 1000)]
    points[must] = points[700] + rng.normal(0, 3, (11, 2))  # the searched word and its neighbours, bunched up
    placed = place_labels(points, widths(n), CANVAS, must=must, wanted=[5, 6], extra=range(n), limit=60)
    indices = [label.index for label in placed]
    assert set(must) <= set(indices) and len(indices) == len(set(indices))
    assert 0 < sum(i not in must for i in indices) <= 62
    assert_apart(placed)
    assert_inside(placed)
    for label in placed:  # no label hides a point of the priority words
        assert not any(covers(label, points[i], CANVAS.point_radius) for i in must)


def test_extras_sit_beside_their_point_and_stop_at_the_limit() -> None:
    points = np.array([[100.0 * (i + 1), 300.0] for i in range(8)])
    placed = place_labels(points, widths(8, 4), CANVAS, must=[], extra=range(8), limit=5)
    assert [label.index for label in placed] == [0, 1, 2, 3, 4]
    assert not any(label.leader for label in placed)
    assert all(label.y < 300 and abs(label.x - points[label.index][0]) < 1e-9 for label in placed)  # above


def test_a_displaced_label_gets_a_leader_that_ends_on_its_box() -> None:
    points = np.array([[500.0, 350.0], [500.0, 350.0]])
    first, second = place_labels(points, widths(2), CANVAS, must=[0, 1])
    assert not first.leader and not second.leader  # above and below the point: both touch it
    crowd = place_labels(np.full((9, 2), 350.0), widths(9), CANVAS, must=range(9))
    far = [label for label in crowd if label.leader]
    assert far
    for label in far:
        x, y = leader_end(label, 350.0, 350.0)
        left, top, right, bottom = label.box
        assert left <= x <= right and top <= y <= bottom
        assert x in (left, right) or y in (top, bottom)  # on the box's edge, the side facing the point


def test_where_no_ring_place_is_left_a_must_label_takes_any_free_place_and_a_wanted_one_is_left_out() -> None:
    canvas = Canvas(width=300.0, height=400.0, label_height=16.0, point_radius=3.0)
    points, wide = np.full((20, 2), [150.0, 200.0]), np.full(20, 130.0)  # wide labels in a narrow plot
    placed = place_labels(points, wide, canvas, must=range(20))
    assert len(placed) == 20
    assert_apart(placed)
    assert_inside(placed, canvas)
    assert len(place_labels(points, wide, canvas, must=[], wanted=range(20))) == 16  # the rings hold 16


def test_wanted_labels_that_find_no_room_are_left_out() -> None:
    canvas = Canvas(width=200.0, height=60.0, label_height=16.0, point_radius=3.0)
    placed = place_labels(np.full((30, 2), [100.0, 30.0]), np.full(30, 60.0), canvas, must=[], wanted=range(30))
    assert 0 < len(placed) < 30
    assert_apart(placed)
    assert_inside(placed, canvas)
