"""What the coordinator reads back from the storage: a trial finished meanwhile is not run
again, and attributes anyone could have written (optuna-dashboard can) cannot crash it or buy
unlimited retries. On the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from automl.backends import InlineBackend
from automl.coordinator import Coordinator
from automl.search import open_study, trial_by_number
from automl.search.study import fail_trial
from automl.studyfile import StudySpec
from automl.trial_attrs import FailKind
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.integration


@pytest.fixture
def postgres(postgres_url: str) -> str:
    return postgres_url


def _coordinator(spec: StudySpec, study: optuna.Study) -> Coordinator:
    return Coordinator(spec, study, InlineBackend(POSTGRES_URL))


def _waiting(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(states=(TrialState.WAITING,))


def test_a_trial_that_completed_while_declared_lost_is_not_run_again(
    postgres: str, make_spec: Callable[..., StudySpec]
) -> None:
    spec = make_spec(postgres)
    study = open_study(spec, postgres)
    trial = study.ask()
    seen_running = trial_by_number(study, trial.number)  # what the coordinator read
    study.tell(trial, 0.9)  # ... and then the worker told the storage
    assert not fail_trial(study, seen_running, "worker lost: lease expired", FailKind.LOST)
    after = _coordinator(spec, study).retries.fail_and_retry(
        seen_running, "worker lost: lease expired", FailKind.LOST, limit=2
    )
    assert after.state == TrialState.COMPLETE and after.value == 0.9
    assert not _waiting(study)  # no retry enqueued


@pytest.mark.parametrize(
    ("attrs", "expected_attempt"),
    [
        ({"attempt": "x"}, 1),
        ({"attempt": -5}, 1),
        ({"attempt": 1.5}, 1),
        ({"attempt": True}, 1),
        ({"attempt": 1}, 2),
        ({"attempt": 2}, None),
        ({"retry_of": "abc"}, 1),
        ({"retry_of": 10**9}, 1),
    ],
)
def test_untrusted_lineage_attributes_are_treated_as_absent(
    postgres: str,
    make_spec: Callable[..., StudySpec],
    attrs: dict[str, Any],
    expected_attempt: int | None,
) -> None:
    spec = make_spec(postgres, retries=2)
    study = open_study(spec, postgres)
    trial = study.ask()
    for key, value in attrs.items():  # as optuna-dashboard's API would write them
        study._storage.set_trial_user_attr(trial._trial_id, key, value)  # noqa: SLF001
    frozen = trial_by_number(study, trial.number)
    after = _coordinator(spec, study).retries.fail_and_retry(
        frozen, "worker lost: lease expired", FailKind.LOST, limit=2
    )
    assert after.state == TrialState.FAIL
    retries = _waiting(study)
    if expected_attempt is None:
        assert not retries  # attempt 2 of 2: no retries left
        return
    [retry] = retries
    assert retry.user_attrs["attempt"] == expected_attempt
    assert retry.user_attrs["retry_of"] == trial.number
