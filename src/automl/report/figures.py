"""The plots of the HTML report, each a plotly figure or ``None`` with the reason it is missing.

Optuna's visualisation module draws what it knows (history, intermediate values, importances,
parallel coordinates, slices); the two plots it cannot know about, fold-score spread and
gradient health, are drawn here from the trials' user attributes.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import optuna
import plotly.colors
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState
from plotly.subplots import make_subplots

from automl.report.summary import top_trials
from automl.search.attrs import fold_scores_of, health_of
from automl.search.outcomes import best_trial


@dataclass
class Figure:
    key: str  # the element id in the page
    title: str
    figure: go.Figure | None
    missing: str = ""  # why there is no figure


def report_figures(study: optuna.Study) -> list[Figure]:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    with_curves = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    vis = optuna.visualization
    need_two = "needs at least two complete trials" if len(complete) < 2 else ""
    figures = [
        _optuna("history", "Optimisation history", lambda: vis.plot_optimization_history(study),
                "no complete trial yet" if not complete else ""),
        _optuna("curves", "Learning curves (fold-mean per epoch; pruned trials stop early)",
                lambda: vis.plot_intermediate_values(study), "" if with_curves else "no trial reported an epoch yet"),
        _optuna("importances", "Parameter importances", lambda: vis.plot_param_importances(study), need_two),
        _optuna("parallel", "Parallel coordinates", lambda: vis.plot_parallel_coordinate(study),
                "no complete trial yet" if not complete else ""),
        _optuna("slices", "Slices", lambda: vis.plot_slice(study), "no complete trial yet" if not complete else ""),
        fold_spread(study),
        gradient_health(best_trial(study)),
    ]  # fmt: skip
    return figures


def _optuna(key: str, title: str, draw: Callable[[], go.Figure], missing: str) -> Figure:
    if missing:
        return Figure(key, title, None, missing)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "experimental" notes and the like
            fig = draw()
    except (ValueError, RuntimeError) as exc:  # e.g. importances with a constant objective
        return Figure(key, title, None, f"Optuna could not draw it: {exc}")
    # Optuna fixes some widths (slices); let the page decide.
    fig.update_layout(title=None, margin={"t": 30}, width=None, autosize=True)
    return Figure(key, title, fig)


def fold_spread(study: optuna.Study, k: int = 10) -> Figure:
    title = f"Fold scores of the top {k} trials"
    top = [(t, scores) for t in top_trials(study, k) if (scores := fold_scores_of(t))]
    if not top:
        return Figure("folds", title, None, "no complete trial has fold scores yet")
    fig = go.Figure()
    for t, scores in top:
        fig.add_trace(go.Box(y=scores, name=f"#{t.number}", boxpoints="all"))
    fig.update_layout(showlegend=False, yaxis_title="score per fold", xaxis_title="trial", margin={"t": 30})
    return Figure("folds", title, fig)


_PALETTE = plotly.colors.qualitative.Plotly
_HEALTH_SERIES = (("grad_norm", "gradient norm"), ("weight_norm", "weight norm"), ("update_ratio", "update / weight"))


def gradient_health(trial: FrozenTrial | None) -> Figure:
    title = "Gradient health of the best trial" + (f" (#{trial.number})" if trial else "")
    health = health_of(trial) if trial else {}
    series = [(key, label) for key, label in _HEALTH_SERIES if health.get(key)]
    if not series or not health.get("groups"):
        return Figure("health", title, None, "no gradient-health record on the best trial")
    fig = make_subplots(rows=1, cols=len(series), subplot_titles=[label for _, label in series])
    groups: list[str] = health["groups"]
    for col, (key, _label) in enumerate(series, start=1):
        per_epoch: list[list[float | None]] = health[key]
        for g, group in enumerate(groups):
            ys = [row[g] if g < len(row) else None for row in per_epoch]
            colour = _PALETTE[g % len(_PALETTE)]  # one colour per layer group in every panel
            fig.add_trace(
                go.Scatter(x=list(range(1, len(ys) + 1)), y=ys, name=group, legendgroup=group,
                           showlegend=col == 1, mode="lines", line={"color": colour}),
                row=1, col=col,
            )  # fmt: skip
        fig.update_yaxes(type="log", row=1, col=col)
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    fig.update_layout(margin={"t": 40})
    return Figure("health", title, fig)
