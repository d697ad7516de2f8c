"""Pareto ranking: fronts, the top k with crowding distance, hypervolume, against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automl.search.pareto import as_loss, crowding, fronts, hypervolume, in_top, ranks, select_top

points = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=14)


def _dominates(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


@given(points)
@settings(max_examples=200, deadline=None)
def test_fronts_match_brute_force_peeling(pts: list[tuple[int, int]]) -> None:
    left = set(range(len(pts)))
    expected = []
    while left:
        front = sorted(i for i in left if not any(_dominates(pts[j], pts[i]) for j in left))
        expected.append(front)
        left -= set(front)
    assert fronts(pts) == expected
    assert [ranks(pts)[i] for i in range(len(pts))] == [
        next(r for r, f in enumerate(expected) if i in f) for i in range(len(pts))
    ]


@given(points, st.integers(1, 14))
@settings(max_examples=200, deadline=None)
def test_select_top_fills_whole_fronts_first(pts: list[tuple[int, int]], k: int) -> None:
    k = min(k, len(pts))
    top = select_top(pts, k)
    assert len(top) == k == len(set(top))
    rank = ranks(pts)
    worst_kept = max(rank[i] for i in top)
    # Every vector of a better front than the worst one kept is kept.
    assert all(i in top for i in range(len(pts)) if rank[i] < worst_kept)
    for i in range(len(pts)):
        assert in_top(pts, k, i) or i not in top  # whatever is selected is "in"


def test_the_cut_front_keeps_the_most_isolated() -> None:
    # One front of five on a line; keep 3: the two ends (infinite distance), then the point
    # with the largest gap around it.
    pts = [[0, 10], [1, 9], [2, 8], [6, 4], [10, 0]]
    assert select_top(pts, 3) == [0, 3, 4]
    assert np.isinf(crowding(np.asarray(pts, float))[[0, 4]]).all()
    assert in_top(pts, 3, 3) and not in_top(pts, 3, 1)


def test_as_loss_negates_maximised_columns_and_nan_is_worst() -> None:
    losses = as_loss([[0.9, 100.0], [float("nan"), 5.0]], [True, False])
    assert losses.tolist() == [[-0.9, 100.0], [np.inf, 5.0]]


def _box_union_volume(pts: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    """Inclusion-exclusion over the boxes [p, ref]: exact, fine for a handful of points."""
    total = 0.0
    for r in range(1, len(pts) + 1):
        for combo in itertools.combinations(pts, r):
            corner = np.max(np.asarray(combo), axis=0)
            total += (-1) ** (r + 1) * float(np.prod(np.clip(np.asarray(ref) - corner, 0, None)))
    return total


@given(
    st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=7)
)
@settings(max_examples=150, deadline=None)
def test_hypervolume_equals_the_union_of_boxes(pts: list[tuple[float, float, float]]) -> None:
    ref = (1.1, 1.2, 1.3)
    assert hypervolume(pts, ref) == pytest.approx(_box_union_volume(pts, ref), abs=1e-9)
    two = [p[:2] for p in pts]
    assert hypervolume(two, ref[:2]) == pytest.approx(_box_union_volume(two, ref[:2]), abs=1e-9)


def test_hypervolume_ignores_points_beyond_the_reference() -> None:
    assert hypervolume([[1, 2], [2, 1], [5, 0]], [3, 3]) == 3.0
    assert hypervolume([], [1, 1]) == 0.0
