"""A study's objectives as the views show them, and the objective vectors of its trials.

A study with several objectives has no single best trial: its best trials are the Pareto
front (:func:`automl.search.outcomes.best_trials`), and Optuna keeps no intermediate values for
it, so the worker stores every objective's value per epoch in the user attribute
``intermediate_values`` and the last vector of a pruned trial in ``metrics``, read back by
:mod:`automl.search.vectors`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.report.format import fmt_value
from automl.search.outcomes import best_trials, directions_maximize
from automl.search.trial_view import objective_names
from automl.search.vectors import epoch_vectors_of, metrics_of

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
    return objectives_from(directions_maximize(study), study.metric_names)


def objectives_from(maximize: list[bool], names: Sequence[str] | None) -> Objectives:
    """:func:`objectives_of` from a study's directions (True: maximise) and metric names."""
    return Objectives(objective_names(len(maximize), names), maximize)


def is_multi(study: optuna.Study) -> bool:
    return len(study.directions) > 1


def sorted_front(study: optuna.Study, objectives: Objectives | None = None) -> list[FrozenTrial]:
    """The Pareto front, best first on the first objective (then by trial number)."""
    return order_front(best_trials(study), objectives or objectives_of(study))


def order_front(front: list[FrozenTrial], objectives: Objectives) -> list[FrozenTrial]:
    """Members of a Pareto front, best first on the first objective (then by trial number)."""
    first_max = objectives.maximize[0]
    return sorted(front, key=lambda t: ((-t.values[0] if first_max else t.values[0]), t.number))


def fmt_objective(value: float | None) -> str:
    """Like :func:`fmt_value`, but a whole number from 10 up (params, flops) in full.

    >>> fmt_objective(3000.0), fmt_objective(123456789.0), fmt_objective(0.5), fmt_objective(None)
    ('3000', '123456789', '0.5000', '-')
    """
    if (
        value is not None
        and math.isfinite(value)
        and abs(value) >= 10
        and float(value).is_integer()
    ):
        return f"{value:.0f}"
    return fmt_value(value)


def last_vector(trial: FrozenTrial, objectives: Objectives) -> list[float | None] | None:
    """The trial's objective vector: its values when COMPLETE; else (a pruned trial) its
    ``metrics``, or the last epoch of ``intermediate_values``; None when there is none."""
    if trial.state == TrialState.COMPLETE and trial.values is not None:
        return list(trial.values)
    for named in (metrics_of(trial), next(reversed(epoch_vectors_of(trial).values()), {})):
        if named and all(n in named for n in objectives.names):
            return [named[n] for n in objectives.names]
    return None
