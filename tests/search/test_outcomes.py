"""One rule for the best trial and the counted states, the same as Optuna's own answer."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from automl.search.outcomes import COUNTED_STATES, best_of, best_trial, counted, improves


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_best_of_agrees_with_optunas_best_trial_on_ties(tmp_path: Path, direction: str) -> None:
    study = optuna.create_study(direction=direction, storage=f"sqlite:///{tmp_path}/s.db")
    for value in (0.5, 0.9, 0.1, 0.9, 0.1):  # ties at either end
        study.add_trial(optuna.trial.create_trial(value=value))
    study.add_trial(
        optuna.trial.create_trial(state=TrialState.PRUNED, intermediate_values={1: 5.0})
    )
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))
    expected = study.best_trial
    assert expected.number == (1 if direction == "maximize" else 2)  # the first to reach it
    assert (
        best_of(reversed(study.trials), maximize=direction == "maximize").number == expected.number
    )
    assert best_trial(study).number == expected.number


def test_improves_only_on_a_strictly_better_complete_trial() -> None:
    a = optuna.trial.create_trial(value=1.0)
    assert improves(a, None, maximize=True)
    assert not improves(optuna.trial.create_trial(value=1.0), a, maximize=True)
    assert improves(optuna.trial.create_trial(value=2.0), a, maximize=True)
    assert not improves(optuna.trial.create_trial(value=2.0), a, maximize=False)
    assert not improves(optuna.trial.create_trial(state=TrialState.PRUNED), None, maximize=True)


def test_counted_states_are_complete_and_pruned() -> None:
    assert {s.name for s in COUNTED_STATES} == {"COMPLETE", "PRUNED"}
    assert counted({"COMPLETE": 2, "PRUNED": 3, "FAIL": 7, "RUNNING": 1, "WAITING": 4}) == 5


def test_no_best_before_a_complete_trial(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/s.db")
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))
    assert best_trial(study) is None
    assert best_of(study.trials, maximize=True) is None
