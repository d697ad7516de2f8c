"""The plots of the HTML report, each a plotly figure or ``None`` with the reason it is missing.

Optuna's visualisation module draws what it knows (history, intermediate values, importances,
parallel coordinates, slices); the two plots it cannot know about, fold-score spread and
gradient health, are drawn here from the trials' user attributes. A study with several
objectives gets its own set (:mod:`automl.report.pareto_figures`).
"""

from __future__ import annotations

import optuna
import plotly.colors
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState
from plotly.subplots import make_subplots

from automl.report.figure import Figure, optuna_figure
from automl.report.summary import top_trials
from automl.search.outcomes import best_trial
from automl.search.series import fold_scores_of, health_of


def report_figures(study: optuna.Study) -> list[Figure]:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    with_curves = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    vis = optuna.visualization
    need_two = "needs at least two complete trials" if len(complete) < 2 else ""
    figures = [
        optuna_figure(
            "history",
            "Optimisation history",
            lambda: vis.plot_optimization_history(study),
            "no complete trial yet" if not complete else "",
        ),
        optuna_figure(
            "curves",
            "Learning curves (fold-mean per epoch; pruned trials stop early)",
            lambda: vis.plot_intermediate_values(study),
            "" if with_curves else "no trial reported an epoch yet",
        ),
        optuna_figure(
            "importances",
            "Parameter importances",
            lambda: vis.plot_param_importances(study),
            need_two,
        ),
        optuna_figure(
            "parallel",
            "Parallel coordinates",
            lambda: vis.plot_parallel_coordinate(study),
            "no complete trial yet" if not complete else "",
        ),
        optuna_figure(
            "slices",
            "Slices",
            lambda: vis.plot_slice(study),
            "no complete trial yet" if not complete else "",
        ),
        fold_spread(study),
        gradient_health(best_trial(study)),
    ]
    return figures


def fold_spread(study: optuna.Study, k: int = 10, title: str | None = None) -> Figure:
    title = title or f"Fold scores of the top {k} trials"
    top = [(t, scores) for t in top_trials(study, k) if (scores := fold_scores_of(t))]
    if not top:
        return Figure("folds", title, None, "no complete trial has fold scores yet")
    fig = go.Figure()
    for t, scores in top:
        fig.add_trace(go.Box(y=scores, name=f"#{t.number}", boxpoints="all"))
    fig.update_layout(
        showlegend=False, yaxis_title="score per fold", xaxis_title="trial", margin={"t": 30}
    )
    return Figure("folds", title, fig)


_PALETTE = plotly.colors.qualitative.Plotly
_HEALTH_SERIES = (
    ("grad_norm", "gradient norm"),
    ("weight_norm", "weight norm"),
    ("update_ratio", "update / weight"),
)


def gradient_health(trial: FrozenTrial | None, which: str = "the best trial") -> Figure:
    title = f"Gradient health of {which}" + (f" (#{trial.number})" if trial else "")
    health = health_of(trial) if trial else {}
    series = [(key, label) for key, label in _HEALTH_SERIES if health.get(key)]
    if not series or not health.get("groups"):
        return Figure("health", title, None, f"no gradient-health record on {which}")
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
