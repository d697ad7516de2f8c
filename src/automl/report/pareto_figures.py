"""The Pareto front of a study with several objectives, and its hypervolume as trials complete.

The front plot holds every complete trial (the front highlighted, infeasible ones marked) and
the last objective vector of every pruned trial, so that one sees where the pruner stopped
them. The hypervolume is measured against a reference point taken from the data: each
objective's worst value over the feasible complete trials, 10% of that objective's range
further out (:func:`reference_point`); the figure's title says which point it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from automl.report.figure import Figure
from automl.report.objectives import Objectives, fmt_objective, last_vector
from automl.search.outcomes import feasible, front_of
from automl.search.pareto import as_loss, dominates, hypervolume

# (legend name, marker) per kind of point, drawn in this order (the front last, on top).
_KINDS = {
    "pruned": ("pruned (last epoch)", {"color": "#f28e2b", "symbol": "circle-open", "size": 8}),
    "infeasible": ("infeasible", {"color": "#9a9a9a", "symbol": "x", "size": 8}),
    "dominated": ("complete", {"color": "#4e79a7", "symbol": "circle", "size": 8, "opacity": 0.7}),
    "front": ("Pareto front", {"color": "#e15759", "symbol": "diamond", "size": 11}),
}


def classify(
    trials: Sequence[FrozenTrial], objectives: Objectives
) -> dict[str, list[tuple[FrozenTrial, list[float]]]]:
    """The trials' vectors by kind: front, dominated (feasible complete), infeasible (complete),
    pruned (its last vector). Vectors with a missing or non-finite value are left out."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
    on_front = {t.number for t in front_of(complete, objectives.maximize)}
    kinds: dict[str, list[tuple[FrozenTrial, list[float]]]] = {kind: [] for kind in _KINDS}
    for t in trials:
        if t.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            continue
        vector = last_vector(t, objectives)
        if vector is None or any(v is None or not np.isfinite(v) for v in vector):
            continue
        if t.state == TrialState.PRUNED:
            kind = "pruned"
        elif not feasible(t):
            kind = "infeasible"
        else:
            kind = "front" if t.number in on_front else "dominated"
        kinds[kind].append((t, [float(v or 0.0) for v in vector]))
    return kinds


def pareto_figure(trials: Sequence[FrozenTrial], objectives: Objectives) -> Figure:
    n = len(objectives.names)
    title = "Pareto front" + (" (scatter matrix)" if n > 2 else "") + ": " + objectives.describe()
    kinds = classify(trials, objectives)
    if not kinds["front"] and not kinds["dominated"] and not kinds["infeasible"]:
        return Figure("pareto", title, None, "no complete trial yet")
    fig = go.Figure()
    for kind, (name, marker) in _KINDS.items():
        points = kinds[kind]
        if not points:
            continue
        if kind == "front":  # drawn along the first objective, so that it reads as a line
            points = sorted(points, key=lambda p: (p[1][0], p[0].number))
        numbers = [t.number for t, _ in points]
        text = [f"trial #{t.number}<br>{objectives.show(v)}" for t, v in points]
        columns = list(zip(*(v for _, v in points), strict=True))
        if n == 2:
            fig.add_trace(go.Scatter(
                x=list(columns[0]), y=list(columns[1]), name=name, customdata=numbers, text=text,
                hoverinfo="text", mode="markers+lines" if kind == "front" else "markers",
                marker=marker, line={"color": marker["color"], "width": 1, "dash": "dot"},
            ))  # fmt: skip
        else:
            dims = [
                {"label": label, "values": list(col)}
                for label, col in zip(objectives.names, columns, strict=True)
            ]
            fig.add_trace(
                go.Splom(
                    dimensions=dims,
                    name=name,
                    customdata=numbers,
                    text=text,
                    hoverinfo="text",
                    marker=marker,
                    diagonal_visible=False,
                )
            )
    if n == 2:
        fig.update_layout(xaxis_title=_axis(objectives, 0), yaxis_title=_axis(objectives, 1))
    fig.update_layout(margin={"t": 30}, legend={"orientation": "h"})
    return Figure("pareto", title, fig)


def _axis(objectives: Objectives, i: int) -> str:
    return f"{objectives.names[i]} ({'higher' if objectives.maximize[i] else 'lower'} is better)"


@dataclass(frozen=True)
class HypervolumeTrace:
    numbers: list[int]  # the complete trials, in the order they completed
    values: list[float]  # the front's hypervolume once each of them had completed
    reference: list[float]  # the reference point, in the objectives' own directions


def reference_point(vectors: Sequence[Sequence[float]], maximize: Sequence[bool]) -> list[float]:
    """Each objective's worst value over ``vectors``, 10% of its range further out (when all
    values are equal: 10% of the value, or 1 for 0); in the objectives' own directions.

    >>> reference_point([[0.9, 3000], [0.8, 1000], [0.7, 2000]], [True, False])
    [0.68, 3200.0]
    """
    losses = as_loss(vectors, maximize)
    ref = []
    for k, up in enumerate(maximize):
        col = losses[:, k][np.isfinite(losses[:, k])]
        worst, best = (float(col.max()), float(col.min())) if len(col) else (0.0, 0.0)
        margin = 0.1 * (worst - best) if worst > best else (0.1 * abs(worst) or 1.0)
        point = worst + margin
        ref.append(round(-point if up else point, 12))
    return ref


def hypervolume_trace(
    trials: Sequence[FrozenTrial], objectives: Objectives
) -> HypervolumeTrace | None:
    """The hypervolume of the front after each complete trial, in the order trials completed
    (then by number); only feasible trials join the front. None before the first feasible
    complete trial with finite values."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
    complete.sort(key=lambda t: (t.datetime_complete or datetime.max, t.number))
    usable = [t for t in complete if feasible(t) and all(np.isfinite(v) for v in t.values)]
    if not usable:
        return None
    reference = reference_point([t.values for t in usable], objectives.maximize)
    ref_loss = as_loss([reference], objectives.maximize)[0]
    front: list[np.ndarray] = []
    volume = 0.0
    numbers, values = [], []
    for t in complete:
        if feasible(t):
            mine = as_loss([t.values], objectives.maximize)[0]
            if not any(dominates(other, mine) or np.array_equal(other, mine) for other in front):
                front = [other for other in front if not dominates(mine, other)] + [mine]
                volume = hypervolume(np.array(front), ref_loss)
        numbers.append(t.number)
        values.append(volume)
    return HypervolumeTrace(numbers, values, reference)


def hypervolume_figure(trials: Sequence[FrozenTrial], objectives: Objectives) -> Figure:
    trace = hypervolume_trace(trials, objectives)
    title = "Hypervolume of the Pareto front as trials completed"
    if trace is None:
        return Figure("hypervolume", title, None, "no feasible complete trial yet")
    point = ", ".join(
        f"{n} {fmt_objective(v)}" for n, v in zip(objectives.names, trace.reference, strict=True)
    )
    title += (f" (reference point: each objective's worst value over the feasible complete trials, "
              f"10% of its range further: {point})")  # fmt: skip
    fig = go.Figure(
        go.Scatter(
            x=list(range(1, len(trace.values) + 1)),
            y=trace.values,
            customdata=trace.numbers,
            mode="lines+markers",
            name="hypervolume",
            line={"shape": "hv"},
            hovertemplate="trial #%{customdata}: %{y:.6g}<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis_title="complete trials, in the order they completed",
        yaxis_title="hypervolume",
        margin={"t": 30},
    )
    if len(trace.values) <= 20:
        fig.update_xaxes(dtick=1)  # whole trials only
    return Figure("hypervolume", title, fig)
