"""Which trial export takes: --trial N when it completed, else the best, or the front's member
best on the primary objective."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from automl.artifacts.choose import objective_values, primary_value, trial_to_export
from automl.errors import StudyFailedError, UsageError
from tests.artifacts.helpers import ACCURACY_AND_PARAMS, add_trial, make_study


def test_one_objective_exports_the_best_trial_and_the_first_on_a_tie(
    journal_url: str, study_name: str
) -> None:
    study, spec = make_study(journal_url, study_name)
    with pytest.raises(StudyFailedError, match="no complete trial"):
        trial_to_export(study, spec)
    add_trial(study, [0.90])
    best = add_trial(study, [0.95])
    add_trial(study, [0.95])
    assert trial_to_export(study, spec).number == best
    assert primary_value(trial_to_export(study, spec), spec) == 0.95


def test_several_objectives_export_the_front_member_best_on_the_first_quality_metric(
    journal_url: str, study_name: str
) -> None:
    study, spec = make_study(journal_url, study_name, objective=ACCURACY_AND_PARAMS)
    assert spec.multi and spec.primary.name == "accuracy"
    add_trial(study, [0.90, 1_000])  # on the front: the smallest
    # most accurate, but infeasible
    add_trial(study, [0.99, 90_000], constraints={"params.max": 40_000.0})
    add_trial(study, [0.95, 50_000])  # dominated by the next one
    chosen = add_trial(study, [0.97, 20_000])  # the front's most accurate
    # the same values, later: on the front too, but the tie goes to the first
    add_trial(study, [0.97, 20_000])
    add_trial(study, [0.93, 5_000])
    trial = trial_to_export(study, spec)
    assert trial.number == chosen
    assert primary_value(trial, spec) == 0.97
    assert objective_values(trial, spec) == {"accuracy": 0.97, "params": 20_000}
    assert isinstance(objective_values(trial, spec)["params"], int)


def test_the_primary_objective_is_the_first_that_is_not_a_cost(
    journal_url: str, study_name: str
) -> None:
    study, spec = make_study(
        journal_url, study_name, objective="[{metric: params}, {metric: log_loss}]"
    )
    assert spec.primary.name == "log_loss"  # minimised
    add_trial(study, [500, 0.30])
    low = add_trial(study, [9_000, 0.10])
    add_trial(study, [2_000, 0.20])
    trial = trial_to_export(study, spec)
    assert trial.number == low and primary_value(trial, spec) == 0.10


@pytest.mark.parametrize("state", [TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING])
def test_a_trial_that_did_not_complete_is_refused_naming_the_flag(
    journal_url: str, study_name: str, state: TrialState
) -> None:
    study, spec = make_study(journal_url, study_name, objective=ACCURACY_AND_PARAMS)
    add_trial(study, [0.9, 100])
    number = add_trial(study, None, state=state)
    with pytest.raises(
        UsageError, match=rf"^--trial: trial {number} is {state.name}, not COMPLETE"
    ):
        trial_to_export(study, spec, number)
    with pytest.raises(
        UsageError, match=r"^--trial: study .* has no trial 7 \(its trials are 0 to 1\)"
    ):
        trial_to_export(study, spec, 7)


def test_any_complete_trial_may_be_named_even_off_the_front(
    journal_url: str, study_name: str
) -> None:
    study, spec = make_study(journal_url, study_name, objective=ACCURACY_AND_PARAMS)
    add_trial(study, [0.97, 100])
    worse = add_trial(study, [0.90, 900])
    assert trial_to_export(study, spec, worse).number == worse
