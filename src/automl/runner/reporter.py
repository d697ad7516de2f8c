"""The reporter of one objective: an Optuna trial as the training engine's :class:`Reporter`,
which stops the trial (:class:`ClaimLost`) once another delivery owns it.

Several objectives: :class:`automl.runner.vectors.VectorReporter`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import optuna

from automl.runner.vectors import as_record


class ClaimLost(Exception):  # noqa: N818 - a signal to stop, not an error of the trial
    """Another delivery owns this trial now: stop training it, and tell the storage nothing."""


class OptunaReporter:
    """Adapts an Optuna trial to the training engine's :class:`Reporter` protocol (one objective;
    several: :class:`automl.runner.vectors.VectorReporter`)."""

    def __init__(
        self,
        trial: optuna.trial.Trial,
        should_stop: Callable[[], bool] = lambda: False,
        name: str = "",
    ) -> None:
        self._trial = trial
        self._should_stop = should_stop
        self._name = name  # the objective's name, for a value reported as {name: value}
        self.last: tuple[int, float] | None = None  # the latest epoch reported, and its value

    def report(self, epoch: int, value: Any) -> None:
        if self._should_stop():
            raise ClaimLost(f"trial {self._trial.number}: claimed by another delivery")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            value = as_record(value, [self._name])[self._name]
        if math.isfinite(value):  # Optuna refuses nan; divergence is reported by the engine
            self._trial.report(value, step=epoch)  # Optuna's step: the epoch (your code's step)
            if self.last is None or epoch >= self.last[0]:
                self.last = (epoch, float(value))

    def should_prune(self) -> bool:
        if isinstance(self._trial.study.pruner, optuna.pruners.NopPruner):
            return False  # Optuna would read the trial back from the storage to learn that
        return self._trial.should_prune()
