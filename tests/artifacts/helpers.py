"""Studies to export, built directly in Optuna (no search runs): the study file stored on the
study, and trials with the params, values and ``best_epoch`` that export reads."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from automl.search.storage import make_storage
from automl.search.study import SPEC_ATTR, stored_spec
from automl.studyfile import StudySpec, parse_spec

# Digits, trained for a few epochs: an export takes a second or two on one core.
DIGITS = """
name: {name}
storage: {storage}
objective: {objective}
data: {{source: sklearn:digits, cv: {{folds: 2}}}}
model: {{family: {family}}}
trainer: {{epochs: 8, batch_size: 64}}
space:
  lr: {{low: 1.0e-3, high: 3.0e-2, log: true}}
  width: {{choices: [32, 64]}}
  depth: 2
  channels: 8
search: {{sampler: {{type: random}}, pruner: {{type: none}}}}
"""
ACCURACY = "{metric: accuracy}"
ACCURACY_AND_PARAMS = "[{metric: accuracy}, {metric: params}]"
DISTRIBUTIONS = {
    "lr": FloatDistribution(1e-3, 3e-2, log=True),
    "width": CategoricalDistribution([32, 64]),
}


def make_study(
    storage: str, name: str, *, objective: str = ACCURACY, family: str = "mlp"
) -> tuple[optuna.Study, StudySpec]:
    spec = parse_spec(DIGITS.format(name=name, storage=storage, objective=objective, family=family))
    study = optuna.create_study(
        storage=make_storage(storage),
        study_name=name,
        directions=[o.direction.value for o in spec.objectives],  # type: ignore[union-attr]
    )
    if spec.multi:
        # experimental in Optuna; what automl's open_study calls too
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(spec.objective_names)
    study.set_user_attr(SPEC_ATTR, stored_spec(spec))
    return study, spec


def add_trial(
    study: optuna.Study,
    values: Sequence[float] | None,
    *,
    lr: float = 1e-2,
    width: int = 64,
    best_epoch: int = 6,
    state: TrialState = TrialState.COMPLETE,
    constraints: dict[str, float] | None = None,
) -> int:
    """A finished trial as a worker would leave it; its number."""
    done = state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    trial = optuna.trial.create_trial(
        state=state, params={"lr": lr, "width": width}, distributions=DISTRIBUTIONS,
        values=list(values) if values is not None and state == TrialState.COMPLETE else None,
        user_attrs={"best_epoch": best_epoch} if done else {}, constraints=constraints,
    )  # fmt: skip
    study.add_trial(trial)
    return study.trials[-1].number


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
