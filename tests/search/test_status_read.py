"""``automl status`` shows, on every storage kind, exactly what a plain Optuna read of every
trial shows: counts by state, the best trial (infeasible best values and ties included), the
Pareto front, the running trials whole, the fail reasons. PostgreSQL and Redis: integration."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from optuna.trial import TrialState

import automl.search.storage as storage_module
from automl.report.summary import status_info
from automl.search import open_study
from automl.search.status_read import read_status
from automl.studyfile import StudySpec
from tests.report.pareto_study import FRONT, pareto_study
from tests.search.status_study import build_study, plain_facts


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each read opens the storage anew, as ``automl status`` does in its own process."""
    monkeypatch.setattr(storage_module, "_cache", {})


def test_status_reads_what_optuna_reads(
    storage_url: str, make_spec: Callable[..., StudySpec]
) -> None:
    spec = make_spec(storage_url)
    build_study(open_study(spec, storage_url))
    info = status_info(read_status(storage_url, spec.name), 0.0)
    assert info == status_info(plain_facts(storage_url, spec.name), 0.0)
    assert info["best"]["number"] == 2  # 0.9 is infeasible; of the two feasible 0.85, the first
    assert info["counts"] == {"complete": 5, "pruned": 1, "fail": 4, "running": 2, "waiting": 1}
    assert info["failure_reasons"] == {"out of memory": 2, "unknown": 2}
    assert [r["number"] for r in info["running"]] == [9, 11]
    assert info["running"][0]["checkpoint_epoch"] == 1 and info["running"][0]["last_epoch"] == 1


def test_a_feasible_best_value_is_the_best(
    storage_url: str, make_spec: Callable[..., StudySpec]
) -> None:
    spec = make_spec(storage_url)
    study = open_study(spec, storage_url)
    for value in (0.5, 0.8, 0.8, 0.7):
        trial = study.ask()
        trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        study.tell(trial, value)
    info = status_info(read_status(storage_url, spec.name), 0.0)
    assert info == status_info(plain_facts(storage_url, spec.name), 0.0)
    assert info["best"]["number"] == 1 and info["best"]["value"] == 0.8


def test_the_front_is_optunas(storage_url: str, study_name: str) -> None:
    _spec, study = pareto_study(study_name, storage_url)
    trial = study.ask()  # a tie with a member of the front: both are on it
    study._storage.set_trial_system_attr(trial._trial_id, "constraints:params.max", -2000.0)
    study.tell(trial, [0.9, 3000])
    info = status_info(read_status(storage_url, study_name), 0.0)
    assert info == status_info(plain_facts(storage_url, study_name), 0.0)
    assert [t["number"] for t in info["front"]] == [*FRONT[:1], 8, *FRONT[1:]]


def test_a_study_without_trials(storage_url: str, make_spec: Callable[..., StudySpec]) -> None:
    spec = make_spec(storage_url)
    open_study(spec, storage_url)
    facts = read_status(storage_url, spec.name)
    assert (facts.counts, facts.best, facts.running, facts.fail_reasons) == ({}, None, [], {})
    assert status_info(facts, 0.0) == status_info(plain_facts(storage_url, spec.name), 0.0)


def test_running_trials_are_whole(storage_url: str, make_spec: Callable[..., StudySpec]) -> None:
    spec = make_spec(storage_url)
    study = open_study(spec, storage_url)
    trial = study.ask()
    trial.suggest_float("lr", 1e-3, 1e-1, log=True)
    trial.report(0.4, 1)
    trial.set_user_attr("host", "gpu-1")
    [running] = read_status(storage_url, spec.name).running
    assert running.state == TrialState.RUNNING and running.params == trial.params
    assert running.intermediate_values == {1: 0.4} and running.user_attrs == {"host": "gpu-1"}
