"""What automl's writes through Optuna's internals (automl.search.internals) save, and that
they write what Optuna writes, on every storage automl supports. The guard of each touch, one
by one: test_internals_guards.py."""

from __future__ import annotations

import copy

import optuna
import pytest
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from automl.search import make_storage
from automl.search.batch import set_trial_user_attrs
from automl.search.internals import created_trial, study_id, trial_id
from automl.search.study import ask, finish_trial
from tests.search.sql_count import statements


def test_a_created_trial_is_known_without_a_read(storage_url: str, study_name: str) -> None:
    storage = make_storage(storage_url, cached=False)
    study = optuna.create_study(storage=storage, study_name=study_name)
    new_id = storage.create_new_trial(study_id(study))
    with statements() as seen:
        frozen = created_trial(storage, study_id(study), new_id)
    fresh = make_storage(storage_url, cached=False).get_trial(new_id)
    assert (frozen.number, frozen.state, frozen.params) == (fresh.number, TrialState.RUNNING, {})
    if storage_url.startswith(("sqlite", "postgresql")):
        assert seen == []  # served from Optuna's cache: if this fails, Optuna moved it


def test_ask_writes_what_optuna_ask_writes_and_reads_nothing_back(
    storage_url: str, study_name: str
) -> None:
    storage = make_storage(storage_url, cached=False)
    study = optuna.create_study(
        storage=storage, study_name=study_name, sampler=optuna.samplers.RandomSampler(seed=1)
    )
    study.ask()  # trial 0 by Optuna's own path
    with statements() as seen:
        trial = ask(study, waiting=False)
        x = trial.suggest_float("x", 0.0, 1.0)
    stored = make_storage(storage_url, cached=False).get_trial(trial_id(trial))
    assert (trial.number, stored.number, stored.params, stored.state) == (
        1,
        1,
        {"x": x},
        TrialState.RUNNING,
    )
    assert not any(s.lstrip().startswith("SELECT trial_values") for s in seen)  # no get_trial of it


def test_finish_trial_writes_the_outcome_once(storage_url: str, study_name: str) -> None:
    storage = make_storage(storage_url, cached=False)
    study = optuna.create_study(storage=storage, study_name=study_name)
    done, pruned = study.ask(), study.ask()
    assert finish_trial(storage, trial_id(done), TrialState.COMPLETE, 0.75)
    assert not finish_trial(storage, trial_id(done), TrialState.FAIL, None)  # finished: it stands
    assert finish_trial(storage, trial_id(pruned), TrialState.PRUNED, [0.5])
    again = make_storage(storage_url, cached=False)
    assert (again.get_trial(trial_id(done)).state, again.get_trial(trial_id(done)).value) == (
        TrialState.COMPLETE,
        0.75,
    )
    assert (again.get_trial(trial_id(pruned)).state, again.get_trial(trial_id(pruned)).value) == (
        TrialState.PRUNED,
        0.5,
    )
    assert [t.number for t in study.best_trials] == [done.number]


def test_known_answers_only_that_trial_in_that_thread(journal_url: str, study_name: str) -> None:
    storage = make_storage(journal_url, cached=False)
    study = optuna.create_study(storage=storage, study_name=study_name)
    a, b = study.ask(), study.ask()
    stale = copy.deepcopy(storage.get_trial(trial_id(a)))  # a journal hands out its own object
    a.suggest_float("x", 0.0, 1.0)
    with storage.known(stale):
        assert storage.get_trial(trial_id(a)).params == {}  # the copy it was given
        assert storage.get_trial(trial_id(b)).number == b.number  # any other trial is read
    assert set(storage.get_trial(trial_id(a)).params) == {"x"}  # closed: read again


@pytest.mark.parametrize("n", [1, 6])
def test_attributes_take_one_statement_on_an_rdb(sqlite_url: str, study_name: str, n: int) -> None:
    storage = make_storage(sqlite_url, cached=False)
    trial = optuna.create_study(storage=storage, study_name=study_name).ask()
    with statements() as seen:
        set_trial_user_attrs(storage, trial_id(trial), {f"k{i}": i for i in range(n)})
    assert sum(s.lstrip().upper().startswith("INSERT") for s in seen) == 1


def test_params_land_in_one_insert_and_are_checked_as_optuna_checks(
    storage_url: str, study_name: str
) -> None:
    from automl.search.study import ask_params
    from automl.studyfile.load import parse_spec

    storage = make_storage(storage_url, cached=False)
    study = optuna.create_study(
        storage=storage, study_name=study_name, sampler=optuna.samplers.RandomSampler(seed=3)
    )
    space = parse_spec(
        "name: s\nstorage: x.journal\nobjective: {metric: accuracy}\ntrain: python:m:f\n"
        "space: {lr: {low: 0.001, high: 0.1, log: true}, width: {low: 8, high: 64}, opt: "
        "{choices: [adam, sgd]}}\n"
    ).space
    ask_params(study, space, waiting=False)  # the first trial: Optuna's own checks, param by param
    with statements() as seen:
        number, params = ask_params(study, space, waiting=False)
    stored = make_storage(storage_url, cached=False).get_trial(
        storage.get_trial_id_from_study_id_trial_number(study_id(study), number)
    )
    assert stored.params == params and set(params) == {"lr", "width", "opt"}
    inserts = sum("INSERT INTO TRIAL_PARAMS" in s.upper() for s in seen)
    if storage_url.startswith(("sqlite", "postgresql")):
        assert inserts == 1  # one statement for all, which writes only while the trial runs
    trial = ask(study, waiting=False)
    with pytest.raises(ValueError), storage.params_at_once(trial_id(trial)):
        # another distribution for lr: refused at the write
        trial.suggest_float("lr", 1.0, 2.0, log=False)


def test_a_report_is_written_like_optunas_and_refused_once_finished(
    storage_url: str, study_name: str
) -> None:
    storage = make_storage(storage_url, cached=False)
    study = optuna.create_study(storage=storage, study_name=study_name)
    trial = study.ask()
    with statements() as seen:
        trial.report(0.5, 1)
    trial.report(float("inf"), 2)
    # a step again: replaced, as in Optuna
    storage.set_trial_intermediate_value(trial_id(trial), 1, 0.25)
    stored = make_storage(storage_url, cached=False).get_trial(trial_id(trial))
    assert stored.intermediate_values == {1: 0.25, 2: float("inf")}
    if storage_url.startswith(("sqlite", "postgresql")):
        assert len(seen) == 1  # one upsert, which writes only while the trial runs
    study.tell(trial, 1.0)
    with pytest.raises(UpdateFinishedTrialError):
        storage.set_trial_intermediate_value(trial_id(trial), 3, 0.1)
