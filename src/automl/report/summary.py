"""The table printed when a run ends, and the counts `automl status` shows."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial
from rich.table import Table

from automl.report.columns import (
    STATUS_BEST_FIELDS,
    STATUS_FRONT_FIELDS,
    STATUS_RUNNING_FIELDS,
    SUMMARY,
    SUMMARY_FRONT,
    rich_table,
)
from automl.report.format import fmt_params
from automl.report.objectives import (
    is_multi,
    objectives_from,
    objectives_of,
    order_front,
    sorted_front,
)
from automl.search.counts import counts_by_state, top_complete
from automl.search.status_read import StatusFacts, study_facts
from automl.search.trial_view import TrialView, objective_names


def top_trials(study: optuna.Study, k: int = 5) -> list[FrozenTrial]:
    """The ``k`` best complete trials; with several objectives, the first ``k`` of the Pareto
    front, best first on the first objective."""
    if is_multi(study):
        return sorted_front(study)[:k]
    return top_complete(study, k)


def summary_table(study: optuna.Study, k: int = 5) -> Table:
    counts = counts_by_state(study)
    caption = ", ".join(f"{name.lower()} {n}" for name, n in sorted(counts.items()))
    if is_multi(study):
        return _front_table(study, k, caption)
    names = objectives_of(study).names
    views = [TrialView(t, names) for t in top_trials(study, k)]
    return rich_table(
        SUMMARY, views, names, title=f"study {study.study_name}: top {k}", caption=caption
    )


def _front_table(study: optuna.Study, k: int, caption: str) -> Table:
    objectives = objectives_of(study)
    front = sorted_front(study, objectives)
    shown = (
        f"first {k} of {len(front)} trials"
        if len(front) > k
        else f"{len(front)} trial{'s' if len(front) != 1 else ''}"
    )
    title = f"study {study.study_name}: Pareto front ({shown})"
    views = [TrialView(t, objectives.names) for t in front[:k]]
    return rich_table(SUMMARY_FRONT, views, objectives.names, title=title, caption=caption)


def front_lines(study: optuna.Study, k: int = 3) -> list[str]:
    """A few lines on the Pareto front of a study with several objectives: its size, then
    its first ``k`` members' values by name (best first on the first objective)."""
    objectives = objectives_of(study)
    front = sorted_front(study, objectives)
    if not front:
        return []
    lines = [
        f"Pareto front of {objectives.describe()}: {len(front)} "
        f"trial{'s' if len(front) != 1 else ''}"
    ]
    for t in front[:k]:
        lines.append(f"  trial {t.number}: {objectives.show(t.values)}; {fmt_params(t.params, 12)}")
    if len(front) > k:
        lines.append(f"  and {len(front) - k} more (automl status)")
    return lines


def study_status(study: optuna.Study, now: float) -> dict[str, Any]:
    """Everything `automl status` shows of an open study, as JSON-safe data (see
    :func:`status_info`)."""
    return status_info(study_facts(study), now)


def status_info(facts: StatusFacts, now: float) -> dict[str, Any]:
    """Everything `automl status` shows, as JSON-safe data, from what
    :func:`automl.search.status_read.read_status` read: the counts, the best trial, the running
    trials, the failure reasons. With several objectives there is no best trial (``best`` and
    ``direction`` are None): ``directions``, ``metric_names`` and ``front`` (the Pareto front,
    best first on the first objective) take their place."""
    maximize = [d == optuna.study.StudyDirection.MAXIMIZE for d in facts.directions]
    objectives = objectives_from(maximize, facts.metric_names)
    best = None if facts.best is None else TrialView(facts.best, objectives.names)
    info: dict[str, Any] = {
        "study": facts.study_name,
        "direction": None if facts.multi else facts.directions[0].name.lower(),
        "counts": {state.lower(): n for state, n in facts.counts.items()},
        "best": None if best is None else best.fields(STATUS_BEST_FIELDS),
        "running": [v.fields(STATUS_RUNNING_FIELDS) for v in running_views(facts, now)],
        "failure_reasons": dict(facts.fail_reasons),
    }
    if facts.multi:  # several objectives: the Pareto front instead of a best trial
        info["directions"] = objectives.directions
        info["metric_names"] = objectives.names
        info["front"] = [v.fields(STATUS_FRONT_FIELDS) for v in front_views(facts)]
    return info


def running_views(facts: StatusFacts, now: float) -> list[TrialView]:
    """The running trials of ``facts``, by number, as seen at ``now``."""
    return [TrialView(t, names_of(facts), now=now) for t in facts.running]


def front_views(facts: StatusFacts) -> list[TrialView]:
    """The Pareto front of ``facts``, best first on the first objective (then by number)."""
    maximize = [d == optuna.study.StudyDirection.MAXIMIZE for d in facts.directions]
    objectives = objectives_from(maximize, facts.metric_names)
    return [
        TrialView(t, objectives.names, on_front=True) for t in order_front(facts.front, objectives)
    ]


def names_of(facts: StatusFacts) -> list[str]:
    """The objectives' names of the study ``facts`` describe (:func:`objective_names`)."""
    return objective_names(len(facts.directions), facts.metric_names)
