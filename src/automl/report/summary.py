"""The table printed when a run ends, and the counts `automl status` shows."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.table import Table
from rich.text import Text

from automl.report.format import fmt_params, fmt_value
from automl.report.objectives import (
    fmt_objective,
    is_multi,
    objectives_from,
    objectives_of,
    order_front,
    sorted_front,
)
from automl.search.attrs import (
    best_epoch_of,
    checkpoint_epoch_of,
    host_of,
    resumed_from_epoch_of,
    slot_of,
)
from automl.search.counts import counts_by_state
from automl.search.status_read import StatusFacts, study_facts


def top_trials(study: optuna.Study, k: int = 5) -> list[FrozenTrial]:
    """The ``k`` best complete trials; with several objectives, the first ``k`` of the Pareto
    front, best first on the first objective."""
    if is_multi(study):
        return sorted_front(study)[:k]
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    reverse = study.direction == optuna.study.StudyDirection.MAXIMIZE
    return sorted(done, key=lambda t: t.value, reverse=reverse)[:k]  # type: ignore[arg-type, return-value]


def summary_table(study: optuna.Study, k: int = 5) -> Table:
    counts = counts_by_state(study)
    caption = ", ".join(f"{name.lower()} {n}" for name, n in sorted(counts.items()))
    if is_multi(study):
        return _front_table(study, k, caption)
    table = Table(title=f"study {study.study_name}: top {k}", caption=caption)
    table.add_column("trial", justify="right")
    table.add_column("value", justify="right")
    table.add_column("best epoch", justify="right")
    table.add_column("params")
    for t in top_trials(study, k):
        table.add_row(str(t.number), fmt_value(t.value), str(best_epoch_of(t) or "-"), Text(fmt_params(t.params, 12)))
    return table


def _front_table(study: optuna.Study, k: int, caption: str) -> Table:
    objectives = objectives_of(study)
    front = sorted_front(study, objectives)
    shown = f"first {k} of {len(front)} trials" if len(front) > k else f"{len(front)} trial{'s' if len(front) != 1 else ''}"
    table = Table(title=f"study {study.study_name}: Pareto front ({shown})", caption=caption)
    table.add_column("trial", justify="right")
    for name in objectives.names:
        table.add_column(name, justify="right")
    table.add_column("best epoch", justify="right")
    table.add_column("hyperparameters")  # "params" may be an objective (the model's size)
    for t in front[:k]:
        table.add_row(str(t.number), *(fmt_objective(v) for v in t.values), str(best_epoch_of(t) or "-"),
                      Text(fmt_params(t.params, 12)))  # fmt: skip
    return table


def front_lines(study: optuna.Study, k: int = 3) -> list[str]:
    """A few lines on the Pareto front of a study with several objectives: its size, then
    its first ``k`` members' values by name (best first on the first objective)."""
    objectives = objectives_of(study)
    front = sorted_front(study, objectives)
    if not front:
        return []
    lines = [f"Pareto front of {objectives.describe()}: {len(front)} trial{'s' if len(front) != 1 else ''}"]
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
    best = facts.best
    running = [
        {
            "number": t.number,
            "params": t.params,
            "host": host_of(t),
            "slot": slot_of(t),
            "age_s": round(now - t.datetime_start.timestamp(), 1) if t.datetime_start else None,
            "last_epoch": t.last_step,
            "checkpoint_epoch": checkpoint_epoch_of(t),
            "resumed_from_epoch": resumed_from_epoch_of(t),
        }
        for t in facts.running
    ]
    info: dict[str, Any] = {
        "study": facts.study_name,
        "direction": None if facts.multi else facts.directions[0].name.lower(),
        "counts": {state.lower(): n for state, n in facts.counts.items()},
        "best": None
        if best is None
        else {"number": best.number, "value": best.value, "params": best.params, "best_epoch": best_epoch_of(best)},
        "running": running,
        "failure_reasons": dict(facts.fail_reasons),
    }
    if facts.multi:  # several objectives: the Pareto front instead of a best trial
        maximize = [d == optuna.study.StudyDirection.MAXIMIZE for d in facts.directions]
        objectives = objectives_from(maximize, facts.metric_names)
        info["directions"] = objectives.directions
        info["metric_names"] = objectives.names
        info["front"] = [
            {"number": t.number, "values": objectives.named(t.values), "params": t.params, "best_epoch": best_epoch_of(t)}
            for t in order_front(facts.front, objectives)
        ]
    return info
