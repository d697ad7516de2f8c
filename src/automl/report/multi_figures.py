"""The plots of the HTML report for a study with several objectives.

Optuna keeps neither a value nor intermediate values for such a study, so its history, parallel
coordinates and slices are drawn for one objective at a time (``target=``), and the learning
curves come from the ``intermediate_values`` attribute the worker writes, one panel per
objective. The Pareto front and its hypervolume are in :mod:`automl.report.pareto_figures`.
"""

from __future__ import annotations

from collections.abc import Callable

import optuna
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState
from plotly.subplots import make_subplots

from automl.report.figure import Figure, optuna_figure
from automl.report.figures import fold_spread, gradient_health
from automl.report.objectives import Objectives, epoch_vectors_of, objectives_of, sorted_front
from automl.report.pareto_figures import hypervolume_figure, pareto_figure

_STATE_COLOURS = {TrialState.COMPLETE: "#4e79a7", TrialState.PRUNED: "#f28e2b"}


def multi_figures(study: optuna.Study, primary: int = 0) -> list[Figure]:
    """Every figure of the report; ``primary``: the index of the objective that parallel
    coordinates, slices and the gradient health of the front are drawn for."""
    objectives = objectives_of(study)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    vis = optuna.visualization
    none_yet = "no complete trial yet" if not complete else ""
    name = objectives.names[primary]
    target = _target(primary)
    front = sorted_front(study, objectives)
    best_primary = max(
        front,
        key=lambda t: t.values[primary] if objectives.maximize[primary] else -t.values[primary],
        default=None,
    )
    figures = [pareto_figure(trials, objectives), hypervolume_figure(trials, objectives)]
    for i, objective in enumerate(objectives.names):
        figures.append(
            optuna_figure(
                f"history-{i + 1}",
                f"Optimisation history: {objective} ({objectives.directions[i]})",
                _history(study, i, objective),
                none_yet,
            )
        )
    figures += [
        objective_curves(trials, objectives),
        optuna_figure(
            "importances",
            "Parameter importances (per objective)",
            lambda: vis.plot_param_importances(study),
            "needs at least two complete trials" if len(complete) < 2 else "",
        ),
        optuna_figure(
            "parallel",
            f"Parallel coordinates ({name})",
            lambda: vis.plot_parallel_coordinate(study, target=target, target_name=name),
            none_yet,
        ),
        optuna_figure(
            "slices",
            f"Slices ({name})",
            lambda: vis.plot_slice(study, target=target, target_name=name),
            none_yet,
        ),
        fold_spread(
            study,
            title="Fold scores of the Pareto front (best first on the first objective, 10 at most)",
        ),
        gradient_health(best_primary, which=f"the front's best trial on {name}"),
    ]
    return figures


def _target(i: int) -> Callable[[FrozenTrial], float]:
    return lambda t: t.values[i]


def _history(study: optuna.Study, i: int, name: str) -> Callable[[], go.Figure]:
    return lambda: optuna.visualization.plot_optimization_history(
        study, target=_target(i), target_name=name
    )


def objective_curves(trials: list[FrozenTrial], objectives: Objectives) -> Figure:
    """One panel per objective: each trial's value per epoch, complete trials in one colour,
    pruned ones in another (they stop early)."""
    title = "Learning curves per objective (per epoch; pruned trials stop early)"
    curves = [
        (t, epochs) for t in trials if (epochs := epoch_vectors_of(t)) and t.state in _STATE_COLOURS
    ]
    if not curves:
        return Figure("curves", title, None, "no trial reported an epoch yet")
    n = len(objectives.names)
    fig = make_subplots(
        rows=n, cols=1, shared_xaxes=True, subplot_titles=objectives.names, vertical_spacing=0.08
    )
    shown: set[TrialState] = set()
    for t, epochs in curves:
        colour = _STATE_COLOURS[t.state]
        for row, objective in enumerate(objectives.names, start=1):
            xs = [e for e, vector in epochs.items() if vector.get(objective) is not None]
            if not xs:
                continue
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=[epochs[e][objective] for e in xs],
                    mode="lines+markers",
                    name=t.state.name.lower(),
                    legendgroup=t.state.name,
                    showlegend=t.state not in shown,
                    line={"color": colour, "width": 1},
                    marker={"size": 4},
                    hovertemplate=f"trial #{t.number}, epoch %{{x}}: %{{y:.6g}}<extra></extra>",
                ),
                row=row,
                col=1,
            )
            shown.add(t.state)
    fig.update_xaxes(title_text="epoch", row=n, col=1)
    fig.update_layout(margin={"t": 40}, height=max(420, 260 * n))
    return Figure("curves", title, fig)
