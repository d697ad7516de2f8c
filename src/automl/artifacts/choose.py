"""Which trial ``automl export`` retrains, and what its objective values are.

The rule, in one place: ``--trial N`` names any COMPLETE trial. Without it, a study with one
objective exports its best trial (:func:`automl.search.outcomes.best_trial`); a study with
several exports the member of its Pareto front (Optuna's ``best_trials``: feasible COMPLETE
trials no other dominates) that is best on the primary objective (the first that is not a
model cost, ``StudySpec.primary``), the lowest trial number on a tie.
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.errors import StudyFailedError, UsageError
from automl.search.outcomes import best_trial, best_trials
from automl.search.study import trial_by_number
from automl.studyfile.schema import StudySpec


def trial_to_export(study: optuna.Study, spec: StudySpec, number: int | None = None) -> FrozenTrial:
    """The trial that export retrains: trial ``number`` (it must be COMPLETE), else the default."""
    if number is not None:
        return numbered_trial(study, number)
    if not spec.multi:
        best = best_trial(study)
        if best is None or best.value is None:
            raise StudyFailedError(
                f"study {study.study_name!r} has no complete trial to export yet"
            )
        return best
    front = [t for t in best_trials(study) if t.values is not None]
    if not front:
        raise StudyFailedError(
            f"study {study.study_name!r} has no complete feasible trial to export yet"
        )
    i, sign = primary_index(spec), (-1.0 if spec.primary.maximize else 1.0)
    return min(front, key=lambda t: (sign * t.values[i], t.number))


def numbered_trial(study: optuna.Study, number: int) -> FrozenTrial:
    """Trial ``number`` of the study; a UsageError naming ``--trial`` unless it is COMPLETE."""
    try:
        if number < 0:
            raise KeyError(number)
        trial = trial_by_number(study, number)  # one trial read, not the study
    except KeyError:
        n = len(study.get_trials(deepcopy=False))
        have = f"its trials are 0 to {n - 1}" if n else "it has no trials"
        raise UsageError(
            f"--trial: study {study.study_name!r} has no trial {number} ({have})"
        ) from None
    if trial.state != TrialState.COMPLETE or trial.values is None:
        raise UsageError(
            f"--trial: trial {number} is {trial.state.name}, not COMPLETE; export takes "
            "a trial that completed"
        )
    return trial


def primary_index(spec: StudySpec) -> int:
    """Where the primary objective (the score an export names) sits in ``trial.values``."""
    return spec.objective_names.index(spec.primary.name)


def primary_value(trial: FrozenTrial, spec: StudySpec) -> float:
    """The trial's value on the primary objective: its cross-validated score."""
    assert trial.values is not None, "a COMPLETE trial has values"
    return float(trial.values[primary_index(spec)])


def objective_values(trial: FrozenTrial, spec: StudySpec) -> dict[str, float | int]:
    """Every objective's value by name (a model cost that is a whole number as an int)."""
    assert trial.values is not None, "a COMPLETE trial has values"
    out: dict[str, float | int] = {}
    for objective, value in zip(spec.objectives, trial.values, strict=False):
        whole = objective.is_cost and float(value).is_integer()
        out[objective.name] = int(value) if whole else float(value)
    return out
