"""Pareto ranking of objective vectors: fronts, crowding distance, the top k, hypervolume.

Vectors are given in the study's own directions; :func:`as_loss` turns them into one
minimisation problem (maximised objectives negated), which every other function here takes.
Used by the multi-objective pruners (rank the trials at a rung) and by what reports a front.

>>> fronts([[1, 2], [2, 1], [2, 2], [3, 3]])
[[0, 1], [2], [3]]
>>> select_top([[1, 2], [2, 1], [2, 2], [3, 3]], 3)
[0, 1, 2]
>>> hypervolume([[1, 2], [2, 1]], [3, 3])
3.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def as_loss(vectors: Sequence[Sequence[float]], maximize: Sequence[bool]) -> np.ndarray:
    """Vectors as losses (lower is better in every column); nan becomes +inf (the worst)."""
    arr = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), len(maximize))
    arr = np.where(np.asarray(maximize), -arr, arr)
    return np.nan_to_num(arr, nan=np.inf)


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """``a`` is no worse than ``b`` anywhere and better somewhere (both losses)."""
    return bool(np.all(a <= b) and np.any(a < b))


def fronts(losses: Sequence[Sequence[float]] | np.ndarray) -> list[list[int]]:
    """Non-dominated sorting: indices by front, the first front first (each front sorted)."""
    arr = np.asarray(losses, dtype=np.float64)
    n = len(arr)
    if n == 0:
        return []
    # le[i, j]: i is no worse than j everywhere; lt[i, j]: better somewhere.
    le = np.all(arr[:, None, :] <= arr[None, :, :], axis=2)
    lt = np.any(arr[:, None, :] < arr[None, :, :], axis=2)
    dominated_by = (le & lt).sum(axis=0)  # how many dominate j
    dom = le & lt
    out: list[list[int]] = []
    current = [j for j in range(n) if dominated_by[j] == 0]
    while current:
        out.append(sorted(current))
        nxt = []
        for i in current:
            for j in np.flatnonzero(dom[i]):
                dominated_by[j] -= 1
                if dominated_by[j] == 0:
                    nxt.append(int(j))
        current = nxt
    return out


def ranks(losses: Sequence[Sequence[float]] | np.ndarray) -> list[int]:
    """The front each vector is in (0: non-dominated)."""
    out = [0] * len(losses)
    for r, front in enumerate(fronts(losses)):
        for i in front:
            out[i] = r
    return out


def crowding(losses: np.ndarray) -> np.ndarray:
    """Crowding distance of each vector within its set (boundary points: infinity)."""
    n, m = losses.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(m):
        order = np.argsort(losses[:, k], kind="stable")
        col = losses[order, k]
        distance[order[0]] = distance[order[-1]] = np.inf
        span = col[-1] - col[0]
        if not np.isfinite(span) or span == 0:
            continue
        distance[order[1:-1]] += (col[2:] - col[:-2]) / span
    return distance


def select_top(losses: Sequence[Sequence[float]] | np.ndarray, k: int) -> list[int]:
    """The ``k`` best vectors: fill front by front; in the front that does not fit whole, the
    most isolated first (crowding distance, then the lower index). Multi-objective ASHA's rule
    (Schmucker et al. 2021), and NSGA-II's survivor selection."""
    arr = np.asarray(losses, dtype=np.float64)
    chosen: list[int] = []
    for front in fronts(arr):
        if len(chosen) + len(front) <= k:
            chosen.extend(front)
            continue
        distance = crowding(arr[front])
        by_isolation = sorted(range(len(front)), key=lambda i: (-distance[i], front[i]))
        chosen.extend(front[i] for i in by_isolation[: k - len(chosen)])
        break
    return sorted(chosen)


def in_top(losses: Sequence[Sequence[float]] | np.ndarray, k: int, index: int) -> bool:
    """Is vector ``index`` among the :func:`select_top` ``k``, ties counted in its favour?

    A vector that ties the last one kept (same front, crowding distance as large, or the very
    same vector) is in: which of equals ASHA keeps should not depend on trial numbers, and a
    trial that might be kept is not pruned.

    >>> in_top([[1, 2], [2, 1]], 1, 1)   # two extremes of one front: a tie, both kept
    True
    >>> in_top([[1, 1], [2, 2]], 1, 1)
    False
    """
    arr = np.asarray(losses, dtype=np.float64)
    top = select_top(arr, k)
    if index in top:
        return True
    front = next(f for f in fronts(arr) if index in f)
    kept = [i for i in front if i in top]
    if not kept:  # a front wholly below the cut
        return False
    distance = dict(zip(front, crowding(arr[front]), strict=True))
    same = any(np.array_equal(arr[index], arr[i]) for i in kept)
    return bool(distance[index] >= min(distance[i] for i in kept) or same)


def hypervolume(
    losses: Sequence[Sequence[float]] | np.ndarray, reference: Sequence[float]
) -> float:
    """The volume dominated by ``losses`` and bounded by ``reference`` (both as losses).

    Exact, by slicing along the first objective: fine for the fronts of a study (tens to
    hundreds of points, two or three objectives).
    """
    ref = np.asarray(reference, dtype=np.float64)
    arr = np.asarray(losses, dtype=np.float64).reshape(-1, len(ref))
    arr = arr[np.all(arr < ref, axis=1)]
    if len(arr) == 0:
        return 0.0
    arr = arr[fronts(arr)[0]]
    return float(_slice_volume(arr, ref))


def _slice_volume(points: np.ndarray, ref: np.ndarray) -> float:
    if points.shape[1] == 1:
        return float(ref[0] - points[:, 0].min())
    order = np.argsort(points[:, 0], kind="stable")
    pts = points[order]
    total = 0.0
    for i in range(len(pts)):
        upper = pts[i + 1, 0] if i + 1 < len(pts) else ref[0]
        width = upper - pts[i, 0]
        if width <= 0:
            continue
        rest = pts[: i + 1, 1:]
        rest = rest[fronts(rest)[0]]
        total += width * _slice_volume(rest, ref[1:])
    return total


def finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
