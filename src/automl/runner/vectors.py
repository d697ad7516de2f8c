"""Several objectives in a worker: what a trial reports, what the storage is told.

Optuna refuses ``Trial.report`` on a multi-objective study, so :class:`VectorReporter` keeps
every epoch's values by objective name in the user attribute ``intermediate_values`` (keyed as
Optuna keys its steps, readable in optuna-dashboard as it is) and asks the study's Pareto pruner
(:mod:`automl.search.pareto_pruners`), which reads the same attribute. At the end,
:func:`values_to_tell` orders the final values as the study's objectives, and
:func:`tell_constraints` gives Optuna 5's constraints API each bound's value, so samplers steer
clear of infeasible regions and ``best_trials`` leaves them out.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

from automl.errors import AutoMLError
from automl.search.batch import set_trial_user_attrs
from automl.search.internals import trial_id
from automl.studyfile.schema import StudySpec
from automl.trial_attrs import INTERMEDIATE_VALUES


class ReportError(AutoMLError):
    """What a trial reported does not fit the study's objectives (the trial fails)."""


def as_record(value: Any, names: list[str], what: str = "report") -> dict[str, float]:
    """One objective's number or a mapping by name -> {name: float} for every objective
    (other names in a mapping are kept: a constraint may need them)."""
    if isinstance(value, Mapping):
        missing = [n for n in names if n not in value]
        if missing:
            given = ", ".join(map(str, value)) or "nothing"
            raise ReportError(
                f"{what}: no value for objective {missing[0]!r} (got {given}; the "
                f"objectives are {', '.join(names)})"
            )
        out = {}
        for key, v in value.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ReportError(f"{what}: {key!r} must be a number, got {type(v).__name__}")
            out[str(key)] = float(v)
        return out
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ReportError(
            f"{what}: a number (or a dict by objective name) is needed, got {type(value).__name__}"
        )
    if len(names) > 1:
        raise ReportError(
            f"{what}: the study has several objectives; give a dict by name ({', '.join(names)})"
        )
    return {names[0]: float(value)}


def stored(record: Mapping[str, float]) -> dict[str, float | None]:
    """JSON-safe: non-finite values as None."""
    return {k: (v if math.isfinite(v) else None) for k, v in record.items()}


def values_to_tell(spec: StudySpec, value: Any) -> float | list[float]:
    """The final value(s) in the order of the study's objectives (a float for one objective)."""
    record = as_record(value, spec.objective_names, "the final value")
    vector = [record[n] for n in spec.objective_names]
    return vector if spec.multi else vector[0]


def tell_constraints(trial: optuna.Trial, spec: StudySpec, metrics: Mapping[str, Any]) -> None:
    """Each bound of ``spec.constraints`` as an Optuna constraint (<= 0 holds) on the trial.

    A metric the trial has no value for counts as broken (1.0): a trial that cannot show it
    keeps a bound does not enter the front."""
    for name, bound in spec.constraints.items():
        value = metrics.get(name)
        finite = (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        )
        for side, amount in bound.violations(float(value) if finite else 0.0).items():  # type: ignore[arg-type]
            trial.set_constraint(f"{name}.{side}", amount if finite else 1.0)


class VectorReporter:
    """The training engine's Reporter for a study with several objectives."""

    def __init__(
        self, study: optuna.Study, storage: BaseStorage, frozen: FrozenTrial, spec: StudySpec,
        should_stop: Callable[[], bool], on_claim_lost: Callable[[], Exception],
    ) -> None:  # fmt: skip
        self._study, self._storage, self._frozen, self._spec = study, storage, frozen, spec
        self._should_stop, self._on_claim_lost = should_stop, on_claim_lost
        self.by_epoch: dict[int, dict[str, float | None]] = {}

    def flush(self, *, raise_errors: bool = True) -> None:
        """Nothing to wait for: each vector is written as it is reported."""

    def write(self, call: Callable[..., None], *args: Any) -> None:
        """Another write of this trial's: now, as every write here is."""
        call(*args)

    def report(self, epoch: int, value: Any) -> None:
        if self._should_stop():
            raise self._on_claim_lost()
        self.by_epoch[int(epoch)] = stored(as_record(value, self._spec.objective_names))
        set_trial_user_attrs(
            self._storage, trial_id(self._frozen), {INTERMEDIATE_VALUES: self.attr()}
        )

    def attr(self) -> dict[str, dict[str, float | None]]:
        return {str(e): self.by_epoch[e] for e in sorted(self.by_epoch)}

    def should_prune(self) -> bool:
        pruner = self._study.pruner
        if isinstance(pruner, optuna.pruners.NopPruner) or not self.by_epoch:
            return False
        # The trial as the pruner must see it: what this process just wrote, no read-back.
        now = copy.copy(self._frozen)
        now.user_attrs = {**self._frozen.user_attrs, INTERMEDIATE_VALUES: self.attr()}
        return bool(pruner.prune(self._study, now))

    @property
    def last(self) -> dict[str, float | None] | None:
        return self.by_epoch[max(self.by_epoch)] if self.by_epoch else None
