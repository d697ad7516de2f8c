"""Several user attributes in one write, on every storage automl supports."""

from __future__ import annotations

import optuna
import pytest
from optuna.exceptions import UpdateFinishedTrialError

from automl.search import make_storage
from automl.search.batch import one_write_supported, set_trial_user_attrs


def test_attributes_land_in_one_write(storage_url: str, study_name: str) -> None:
    storage = make_storage(storage_url, cached=False)
    assert one_write_supported(storage)  # the installed Optuna still has the helpers it uses
    study = optuna.create_study(storage=storage, study_name=study_name)
    trial = study.ask()
    facts = {
        "fold_scores": [0.5, 0.25],
        "health": {"grad": {"norm": [1.0, None]}},
        "device": "cpu",
        "epochs_run": 3,
    }
    set_trial_user_attrs(storage, trial._trial_id, facts)
    set_trial_user_attrs(storage, trial._trial_id, {"epochs_run": 4})  # an update replaces
    stored = make_storage(storage_url, cached=False)
    assert stored.get_trial(trial._trial_id).user_attrs == facts | {"epochs_run": 4}


def test_a_finished_trial_refuses_them(storage_url: str, study_name: str) -> None:
    storage = make_storage(storage_url, cached=False)
    study = optuna.create_study(storage=storage, study_name=study_name)
    trial = study.ask()
    study.tell(trial, 1.0)
    with pytest.raises(UpdateFinishedTrialError):
        set_trial_user_attrs(storage, trial._trial_id, {"late": True})
