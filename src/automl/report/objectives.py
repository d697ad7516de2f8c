"""A study's objectives as the views show them, and the objective vectors of its trials.

A study with several objectives has no single best trial: its best trials are the Pareto
front (:func:`automl.search.outcomes.best_trials`), and Optuna keeps no per-step values for it,
so the worker stores every objective's value per step in the user attribute
``intermediate_values`` and the last vector of a pruned trial in ``metrics``
(:mod:`automl.trial_attrs`). The readers here treat a malformed attribute as absent, as
:mod:`automl.search.attrs` does for the others.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.report.format import fmt_value
from automl.search.outcomes import best_trials, directions_maximize
from automl.trial_attrs import INTERMEDIATE_VALUES, METRICS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Objectives:
    """The study's objectives in order: their names and whether higher is better."""

    names: list[str]
    maximize: list[bool]

    @property
    def multi(self) -> bool:
        return len(self.names) > 1

    @property
    def directions(self) -> list[str]:
        return ["maximize" if m else "minimize" for m in self.maximize]

    def describe(self) -> str:
        """``accuracy (maximize), params (minimize)``."""
        return ", ".join(f"{n} ({d})" for n, d in zip(self.names, self.directions, strict=True))

    def named(self, values: Sequence[float | None]) -> dict[str, float | None]:
        return dict(zip(self.names, values, strict=True))

    def show(self, values: Sequence[float | None]) -> str:
        """``accuracy 0.9500, params 1200``."""
        return ", ".join(f"{n} {fmt_objective(v)}" for n, v in zip(self.names, values, strict=True))


def objectives_of(study: optuna.Study) -> Objectives:
    """Names from the study's metric names (set by automl), else ``objective 1``, ..."""
    maximize = directions_maximize(study)
    names = study.metric_names
    if names is None or len(names) != len(maximize):
        names = [f"objective {i}" for i in range(1, len(maximize) + 1)] if len(maximize) > 1 else ["value"]
    return Objectives(list(names), maximize)


def is_multi(study: optuna.Study) -> bool:
    return len(study.directions) > 1


def sorted_front(study: optuna.Study, objectives: Objectives | None = None) -> list[FrozenTrial]:
    """The Pareto front, best first on the first objective (then by trial number)."""
    first_max = (objectives or objectives_of(study)).maximize[0]
    front = best_trials(study)
    return sorted(front, key=lambda t: ((-t.values[0] if first_max else t.values[0]), t.number))


def fmt_objective(value: float | None) -> str:
    """Like :func:`fmt_value`, but a whole number from 10 up (params, flops) in full.

    >>> fmt_objective(3000.0), fmt_objective(123456789.0), fmt_objective(0.5), fmt_objective(None)
    ('3000', '123456789', '0.5000', '-')
    """
    if value is not None and math.isfinite(value) and abs(value) >= 10 and float(value).is_integer():
        return f"{value:.0f}"
    return fmt_value(value)


def step_vectors_of(trial: FrozenTrial) -> dict[int, dict[str, float | None]]:
    """``intermediate_values`` as step -> {objective name: value} (None: not finite), steps in
    order; {} when absent or malformed."""
    raw = trial.user_attrs.get(INTERMEDIATE_VALUES)
    if raw is None:
        return {}
    out: dict[int, dict[str, float | None]] = {}
    ok = isinstance(raw, dict)
    for step, vector in raw.items() if ok else ():
        parsed = _as_vector(vector)
        if not (isinstance(step, str) and step.lstrip("-").isdigit()) or parsed is None:
            ok = False
            break
        out[int(step)] = parsed
    if not ok:
        log.warning("trial %d: ignoring its %s attribute (not steps of named numbers)", trial.number, INTERMEDIATE_VALUES)
        return {}
    return dict(sorted(out.items()))


def metrics_of(trial: FrozenTrial) -> dict[str, float | None]:
    """``metrics``: the final values by name (a pruned trial: its last step); {} when absent."""
    raw = trial.user_attrs.get(METRICS)
    if raw is None:
        return {}
    parsed = _as_vector(raw)
    if parsed is None:
        log.warning("trial %d: ignoring its %s attribute (not named numbers)", trial.number, METRICS)
    return parsed or {}


def last_vector(trial: FrozenTrial, objectives: Objectives) -> list[float | None] | None:
    """The trial's objective vector: its values when COMPLETE; else (a pruned trial) its
    ``metrics``, or the last step of ``intermediate_values``; None when there is none."""
    if trial.state == TrialState.COMPLETE and trial.values is not None:
        return list(trial.values)
    for named in (metrics_of(trial), next(reversed(step_vectors_of(trial).values()), {})):
        if named and all(n in named for n in objectives.names):
            return [named[n] for n in objectives.names]
    return None


def _as_vector(value: Any) -> dict[str, float | None] | None:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        return None
    out: dict[str, float | None] = {}
    for name, v in value.items():
        if v is None:
            out[name] = None
        elif isinstance(v, int | float) and not isinstance(v, bool):
            try:
                number = float(v)
            except OverflowError:
                number = math.inf
            out[name] = number if math.isfinite(number) else None
        else:
            return None
    return out
