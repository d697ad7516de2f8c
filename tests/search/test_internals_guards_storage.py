"""Guards of the RDB storage's and the journal's internals that automl.search.internals
touches (the rule and the rest: test_internals_guards.py). Each fails, naming what moved,
when an Optuna release moves it; each write is compared with what Optuna itself writes."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import JournalStorage, RDBStorage
from optuna.trial import TrialState

from automl.search import internals, make_storage
from tests.search.sql_count import statements
from tests.search.test_internals_guards import moved, parameters


@pytest.fixture(params=["sqlite", "journal_file"])
def local_url(request: pytest.FixtureRequest, sqlite_url: str, journal_url: str) -> str:
    return sqlite_url if request.param == "sqlite" else journal_url


# --- rdb.py and rdb_queries.py ---------------------------------------------------------------


def test_rdb_models_have_every_model_and_column_automl_uses() -> None:
    models = internals.rdb_models()
    used = {
        "TrialModel": ["trial_id", "number", "state", "study_id", "find_or_raise_by_id"],
        "TrialParamModel": ["trial_id", "param_name", "param_value", "distribution_json"],
        "TrialIntermediateValueModel": [
            "trial_id",
            "step",
            "intermediate_value",
            "intermediate_value_type",
            "intermediate_value_to_stored_repr",
        ],
        "TrialUserAttributeModel": ["trial_id", "key", "value_json"],
        "TrialSystemAttributeModel": ["trial_id", "key", "value_json"],
        "TrialValueModel": [
            "trial_id",
            "objective",
            "value",
            "value_type",
            "stored_repr_to_value",
            "TrialValueType",
        ],
    }
    for model, names in used.items():
        missing = [n for n in names if not hasattr(getattr(models, model, None), n)]
        assert not missing, moved(f"optuna.storages._rdb.models.{model}.{', '.join(missing)}")


def test_rdb_session_commits_and_raises_as_optunas_writes() -> None:
    from optuna.storages._rdb import storage as rdb_storage

    assert parameters(rdb_storage._create_scoped_session) == [
        "scoped_session",
        "ignore_integrity_error",
    ], moved("optuna.storages._rdb.storage._create_scoped_session")


def test_rdb_session_writes_a_row(sqlite_url: str, study_name: str) -> None:
    storage = make_storage(sqlite_url, cached=False)
    trial = optuna.create_study(storage=storage, study_name=study_name).ask()
    rdb = internals.rdb_of(storage)
    assert rdb is not None
    with internals.rdb_session(rdb, ignore_integrity_error=True) as session:
        internals.set_trial_attr_without_commit(rdb, session, internals.trial_id(trial), "k", [1])
    assert make_storage(sqlite_url, cached=False).get_trial(
        internals.trial_id(trial)
    ).user_attrs == {"k": [1]}


def test_set_trial_attr_without_commit_has_optunas_signature() -> None:
    expected = ["self", "session", "model_cls", "trial_id", "key", "value"]
    assert parameters(RDBStorage._set_trial_attr_without_commit) == expected, moved(
        "RDBStorage._set_trial_attr_without_commit"
    )


def test_set_trial_param_without_commit_checks_against_the_study(
    sqlite_url: str, study_name: str
) -> None:
    expected = [
        "self",
        "session",
        "trial_id",
        "param_name",
        "param_value_internal",
        "distribution",
        "previous_distribution",
    ]
    assert parameters(RDBStorage._set_trial_param_without_commit) == expected, moved(
        "RDBStorage._set_trial_param_without_commit"
    )
    storage = make_storage(sqlite_url, cached=False)
    trial = optuna.create_study(storage=storage, study_name=study_name).ask()
    rdb, tid = internals.rdb_of(storage), internals.trial_id(trial)
    assert rdb is not None
    with internals.rdb_session(rdb, ignore_integrity_error=True) as session:
        internals.set_trial_param_without_commit(
            rdb, session, tid, ("x", 0.5, FloatDistribution(0, 1)), None
        )
    assert make_storage(sqlite_url, cached=False).get_trial(tid).params == {"x": 0.5}


def test_rdb_of_finds_the_rdb_storage(local_url: str) -> None:
    storage = make_storage(local_url, cached=False)
    assert (internals.rdb_of(storage) is not None) == local_url.startswith("sqlite"), moved(
        "RDBStorage's helpers"
    )


def test_write_user_attrs_rdb_writes_what_optuna_writes(sqlite_url: str, study_name: str) -> None:
    storage = make_storage(sqlite_url, cached=False)
    study = optuna.create_study(storage=storage, study_name=study_name)
    mine, theirs = study.ask(), study.ask()
    rdb = internals.rdb_of(storage)
    assert rdb is not None
    attrs = {"a": [1, None], "b": {"c": "d"}}
    internals.write_user_attrs_rdb(rdb, internals.trial_id(mine), attrs)
    for key, value in attrs.items():
        theirs.set_user_attr(key, value)
    again = make_storage(sqlite_url, cached=False)
    assert (
        again.get_trial(internals.trial_id(mine)).user_attrs
        == again.get_trial(internals.trial_id(theirs)).user_attrs
    )
    study.tell(mine, 1.0)
    with pytest.raises(UpdateFinishedTrialError):
        internals.write_user_attrs_rdb(rdb, internals.trial_id(mine), {"late": 1})


def test_write_params_writes_what_optuna_writes(local_url: str, study_name: str) -> None:
    storage = make_storage(local_url, cached=False)
    study = optuna.create_study(storage=storage, study_name=study_name)
    first, second = study.ask(), study.ask()
    first.suggest_float("x", 0, 1)  # the study knows x: the one-INSERT path on an RDB
    params: list[internals.Param] = [
        ("x", 0.25, FloatDistribution(0, 1)),
        ("y", 2.0, FloatDistribution(1, 3)),
    ]
    internals.write_params(storage.inner, internals.trial_id(second), params)  # type: ignore[attr-defined]
    assert make_storage(local_url, cached=False).get_trial(internals.trial_id(second)).params == {
        "x": 0.25,
        "y": 2.0,
    }
    with pytest.raises(ValueError):  # another distribution for x: refused as Optuna refuses it
        internals.write_params(
            storage.inner,
            internals.trial_id(study.ask()),
            [("x", 5.0, FloatDistribution(4, 6, log=True))],
        )  # type: ignore[attr-defined]
    study.tell(second, 1.0)
    with pytest.raises(UpdateFinishedTrialError):  # a finished trial takes no more params
        internals.write_params(
            storage.inner, internals.trial_id(second), [("z", 1.5, FloatDistribution(1, 3))]
        )  # type: ignore[attr-defined]
    assert (
        "z"
        not in make_storage(local_url, cached=False).get_trial(internals.trial_id(second)).params
    )


def test_set_intermediate_value_writes_what_optuna_writes(local_url: str, study_name: str) -> None:
    storage = make_storage(local_url, cached=False)
    trial = optuna.create_study(storage=storage, study_name=study_name).ask()
    tid = internals.trial_id(trial)
    for step, value in ((1, 0.5), (2, float("inf")), (1, 0.25)):
        internals.set_intermediate_value(storage.inner, tid, step, value)  # type: ignore[attr-defined]
    assert make_storage(local_url, cached=False).get_trial(tid).intermediate_values == {
        1: 0.25,
        2: float("inf"),
    }
    optuna.load_study(study_name=study_name, storage=storage).tell(trial.number, 1.0)
    with pytest.raises(UpdateFinishedTrialError):  # a finished trial takes no more reports
        internals.set_intermediate_value(storage.inner, tid, 3, 0.1)  # type: ignore[attr-defined]
    with pytest.raises(KeyError):  # nor does one that does not exist
        internals.set_intermediate_value(storage.inner, tid + 1000, 1, 0.1)  # type: ignore[attr-defined]


def test_count_states_rdb_running_numbers_rdb_and_trial_rows_rdb_match_optuna(
    sqlite_url: str, study_name: str
) -> None:
    storage = make_storage(sqlite_url, cached=False)
    study = optuna.create_study(
        storage=storage, study_name=study_name, directions=["minimize", "maximize"]
    )
    done, _running, failed = study.ask(), study.ask(), study.ask()
    study.tell(done, [1.0, 2.0])
    failed.set_user_attr("fail_reason", "boom")
    study.tell(failed, state=TrialState.FAIL)
    sid = internals.study_id(study)
    assert dict(internals.count_states_rdb(storage, sid)) == {
        TrialState.COMPLETE: 1,
        TrialState.RUNNING: 1,
        TrialState.FAIL: 1,
    }
    assert internals.running_numbers_rdb(storage, sid) == {1}
    assert internals.fail_reason_rows_rdb(storage, sid, "fail_reason") == [(2, json.dumps("boom"))]
    rows = {r[1]: r for r in internals.trial_rows_rdb(storage, sid)}
    assert (rows[0][2], rows[0][3], rows[1][3]) == (TrialState.COMPLETE, [(0, 1.0), (1, 2.0)], None)


def test_fail_reason_rows_rdb_for_a_failed_trial_without_a_reason(
    sqlite_url: str, study_name: str
) -> None:
    storage = make_storage(sqlite_url, cached=False)
    study = optuna.create_study(storage=storage, study_name=study_name)
    study.tell(study.ask(), state=TrialState.FAIL)
    assert internals.fail_reason_rows_rdb(storage, internals.study_id(study), "fail_reason") == [
        (0, None)
    ]


# --- journal.py ----------------------------------------------------------------------------


def test_journal_operations_has_the_op_codes_automl_appends() -> None:
    ops = internals.journal_operations()
    assert (ops.SET_TRIAL_PARAM, ops.SET_TRIAL_USER_ATTR) == (5, 8), moved(
        "optuna.storages.journal._storage.JournalOperation"
    )


def test_journal_of_finds_the_journal_storage(local_url: str) -> None:
    storage = make_storage(local_url, cached=False)
    journal = internals.journal_of(storage)
    assert (journal is not None) == local_url.endswith(".journal"), moved(
        "JournalStorage._thread_lock, _replay_result, _backend or _sync_with_backend"
    )


def test_append_to_journal_is_read_back_as_optunas_own_writes(
    journal_url: str, study_name: str
) -> None:
    storage = make_storage(journal_url, cached=False)
    study = optuna.create_study(storage=storage, study_name=study_name)
    trial = study.ask()
    journal = internals.journal_of(storage)
    assert isinstance(journal, JournalStorage)
    assert isinstance(journal._replay_result.worker_id, str), moved(
        "JournalStorage._replay_result.worker_id"
    )
    internals.journal_user_attrs(journal, internals.trial_id(trial), {"a": 1, "b": [2]})
    internals.journal_params(
        journal, internals.trial_id(trial), [("x", 0.5, FloatDistribution(0, 1))]
    )
    fresh = make_storage(journal_url, cached=False).get_trial(internals.trial_id(trial))
    assert (fresh.user_attrs, fresh.params) == ({"a": 1, "b": [2]}, {"x": 0.5}), moved(
        "the journal's entries"
    )
    assert journal.get_trial(internals.trial_id(trial)).user_attrs == {
        "a": 1,
        "b": [2],
    }  # read back: applied here too
    study.tell(trial, 1.0)
    with pytest.raises(
        UpdateFinishedTrialError
    ):  # the read-back raises as set_trial_user_attr does
        internals.journal_user_attrs(journal, internals.trial_id(trial), {"late": 1})


# --- create.py ------------------------------------------------------------------------------


def test_creates_in_bulk_on_postgresql_alone(local_url: str) -> None:
    assert not internals.creates_in_bulk(
        make_storage(local_url, cached=False)
    )  # SQLite: no row lock


@pytest.mark.integration
def test_create_trials_numbers_as_optuna_and_fills_its_cache(
    postgres_url: str, study_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")  # a start time stored in UTC, shown in local time
    time.tzset()
    storage = make_storage(postgres_url, cached=False)
    assert internals.creates_in_bulk(storage), moved("_CachedStorage's fields")
    study = optuna.create_study(storage=storage, study_name=study_name)
    first = study.ask()  # number 0, Optuna's own way
    sid = internals.study_id(study)
    with statements() as seen:
        ids = internals.create_trials(storage.inner, sid, 3)  # type: ignore[attr-defined]
    assert len(seen) == 3  # the study's row locked, the trials counted, one insert of three rows
    later = study.ask()  # Optuna numbers on after them
    again = make_storage(postgres_url, cached=False)
    made = [again.get_trial(i) for i in ids]
    assert [t.number for t in made] == [1, 2, 3] and later.number == 4 and first.number == 0
    assert all(t.state == TrialState.RUNNING and not t.params for t in made)
    cached = internals.created_trial(storage, sid, ids[0])
    assert made[0].datetime_start is not None and cached.datetime_start is not None
    assert abs((made[0].datetime_start - cached.datetime_start).total_seconds()) < 5
    monkeypatch.delenv("TZ")
    time.tzset()
    with statements() as seen:  # the cache knows them: the Trial is built without a read
        trial = internals.trial_on(study, ids[1])
    assert trial.number == 2 and not seen
    x = trial.suggest_float("x", 0, 1)
    assert again.get_trial(ids[1]).params == {"x": x}
    created = again.get_trial(ids[2]).datetime_start
    time.sleep(1.1)  # a trial created ahead starts when it gets its params, in the same statement
    with storage.params_at_once(ids[2]):  # type: ignore[attr-defined]
        internals.trial_on(study, ids[2]).suggest_float("x", 0, 1)
    now = again.get_trial(ids[2])
    assert now.datetime_start is not None and created is not None and "x" in now.params
    assert (now.datetime_start - created).total_seconds() >= 1.0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def rdb_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """An RDB storage: the SQLite file, or the machine's PostgreSQL."""
    return sqlite_url if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))


def test_trials_by_id_rdb_builds_the_trials_optuna_builds(rdb_url: str, study_name: str) -> None:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    storage = make_storage(rdb_url, cached=False)
    study = optuna.create_study(
        storage=storage, study_name=study_name, directions=["maximize", "minimize"]
    )
    trials = [study.ask() for _ in range(4)]
    for n, trial in enumerate(trials):
        trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        trial.suggest_int("width", 8, 256, log=True)
        trial.suggest_categorical("opt", ["adam", "sgd", None])
        tid = internals.trial_id(trial)
        storage.set_trial_intermediate_value(tid, 1, float("nan") if n == 1 else 0.1 * n)
        storage.set_trial_intermediate_value(tid, 2, float("-inf"))
        trial.set_user_attr("curve", {"train": [1.0, None], "n": n})
        storage.set_trial_system_attr(tid, "constraints", [0.5, -1.0])
    study.tell(trials[1], [0.75, float("inf")])
    study.tell(trials[2], state=TrialState.PRUNED)
    wanted = {internals.trial_id(t) for t in trials[1:]}  # not trial 0
    read = internals.trials_by_id_rdb(storage, internals.study_id(study), wanted)
    plain = make_storage(rdb_url, cached=False)
    assert [t.number for t in read] == [1, 2, 3]
    for mine in read:
        theirs = plain.get_trial(internals.trial_id(mine))
        assert repr(mine) == repr(theirs)  # every field (a NaN report equal to itself)
        assert mine.distributions == theirs.distributions and mine.intermediate_values.keys() == {
            1,
            2,
        }
    assert isinstance(read[0].distributions["width"], IntDistribution)
    assert isinstance(read[0].distributions["opt"], CategoricalDistribution)
    # Child rows read in chunks of trials (each id is bound five times): the same trials.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("automl.search.internals.rdb_trials.CHUNK", 2)
        chunked = internals.trials_by_id_rdb(storage, internals.study_id(study), wanted)
    assert [repr(t) for t in chunked] == [repr(t) for t in read]
    # One trial by its number, as a worker reads the trial it is sent.
    for trial in trials:
        one = internals.trial_by_number_rdb(storage, internals.study_id(study), trial.number)
        assert repr(one) == repr(plain.get_trial(internals.trial_id(trial)))
    with pytest.raises(KeyError):
        internals.trial_by_number_rdb(storage, internals.study_id(study), 4)


def test_tied_trial_ids_rdb_are_the_complete_ties_by_number(rdb_url: str, study_name: str) -> None:
    storage = make_storage(rdb_url, cached=False)
    study = optuna.create_study(storage=storage, study_name=study_name, direction="maximize")
    for value in (0.8, 0.5, 0.1 + 0.2, 0.8, float("inf"), 0.8):
        study.tell(study.ask(), value)
    study.ask()  # running: no value
    sid = internals.study_id(study)
    ids = [internals.trial_id(t) for t in study.trials]
    assert internals.tied_trial_ids_rdb(storage, sid, 0.8) == [ids[0], ids[3], ids[5]]
    assert internals.tied_trial_ids_rdb(storage, sid, 0.1 + 0.2) == [ids[2]]
    assert internals.tied_trial_ids_rdb(storage, sid, 0.3) == []


def test_top_trial_ids_rdb_rank_as_optuna_ranks_the_best(rdb_url: str, study_name: str) -> None:
    storage = make_storage(rdb_url, cached=False)
    study = optuna.create_study(storage=storage, study_name=study_name, direction="maximize")
    values = (0.5, float("inf"), 0.8, float("-inf"), 0.8, 0.1)
    for value in values:
        study.tell(study.ask(), value)
    study.tell(study.ask(), state=TrialState.PRUNED)
    study.ask()  # running: no value
    sid = internals.study_id(study)
    ids = [internals.trial_id(t) for t in study.trials]
    assert internals.top_trial_ids_rdb(storage, sid, 4, maximize=True) == [
        ids[n] for n in (1, 2, 4, 0)
    ]
    assert internals.top_trial_ids_rdb(storage, sid, 3, maximize=False) == [
        ids[n] for n in (3, 5, 0)
    ]
    assert internals.top_trial_ids_rdb(storage, sid, 100, maximize=True)[-1] == ids[3]
    assert storage.get_best_trial(sid).number == 1  # Optuna's own query: +inf is the best


# --- schema.py -------------------------------------------------------------------------------


def test_open_rdb_knows_optunas_head_revision_and_version_manager(tmp_path: Path) -> None:
    from optuna.storages._rdb import storage as rdb_storage

    from automl.search.internals.schema import HEAD_REVISION

    opened = RDBStorage(f"sqlite:///{tmp_path / 'plain.db'}")
    assert opened._version_manager.get_head_version() == HEAD_REVISION, moved(
        "the head of Optuna's schema migrations (automl.search.internals.schema.HEAD_REVISION)"
    )
    manager = rdb_storage._VersionManager
    assert callable(manager._init_alembic) and callable(manager.check_table_schema_compatibility)
    assert "_VersionManager(" in inspect.getsource(RDBStorage.__init__), moved(
        "RDBStorage.__init__'s use of _VersionManager"
    )


def test_open_rdb_stamps_a_new_database_and_opens_a_current_one_with_one_query(
    rdb_url: str, study_name: str
) -> None:
    from automl.search.internals.schema import HEAD_REVISION, at_head

    url = rdb_url.replace("postgresql://", "postgresql+psycopg://")
    first = internals.open_rdb(url, {})  # a new SQLite file: Optuna creates and stamps it
    assert at_head(first.engine)
    optuna.create_study(storage=first, study_name=study_name)
    again = internals.open_rdb(url, {})
    with statements() as sent:
        again._version_manager.check_table_schema_compatibility()
    asked = [s for s in sent if "alembic_version" in s]
    assert asked == ["SELECT version_num FROM alembic_version"]
    assert again.get_study_id_from_name(study_name) == first.get_study_id_from_name(study_name)
    assert again._version_manager.get_current_version() == HEAD_REVISION  # what Alembic reads


def test_open_rdb_leaves_an_old_schema_to_optunas_own_check(tmp_path: Path) -> None:
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'old.db'}"
    internals.open_rdb(url, {})
    engine = RDBStorage(url).engine
    with engine.begin() as connection:  # tables of an older Optuna, as Alembic would see them
        connection.execute(text("UPDATE alembic_version SET version_num = 'v3.0.0.d'"))
    with pytest.raises(RuntimeError, match="optuna storage upgrade"):
        internals.open_rdb(url, {})


# --- outcome.py ------------------------------------------------------------------------------


@pytest.mark.parametrize("directions", [["minimize"], ["maximize", "minimize"]])
def test_write_outcome_rdb_writes_what_optuna_writes(
    rdb_url: str, study_name: str, directions: list[str]
) -> None:
    storage = make_storage(rdb_url, cached=False)
    study = optuna.create_study(storage=storage, study_name=study_name, directions=directions)
    mine, theirs = study.ask(), study.ask()
    rdb = internals.rdb_of(storage)
    assert internals.outcome_in_one_write(rdb) and rdb is not None
    values = [0.25, float("inf")][: len(directions)]
    attrs = {"duration_s": 0.5, "curve": [1.0, None]}
    with statements() as sent:
        done = internals.write_outcome_rdb(
            rdb, internals.trial_id(mine), TrialState.COMPLETE, values, attrs
        )
    assert done and len(sent) == 3  # attributes, values, state: one transaction
    for key, value in attrs.items():
        theirs.set_user_attr(key, value)
    rdb.set_trial_state_values(internals.trial_id(theirs), TrialState.COMPLETE, values)
    again = make_storage(rdb_url, cached=False)
    a, b = (again.get_trial(internals.trial_id(t)) for t in (mine, theirs))
    assert (a.state, a.values, a.user_attrs) == (b.state, b.values, b.user_attrs), moved(
        "TrialValueModel or the trials table's state and datetime_complete"
    )
    assert a.datetime_complete is not None and a.datetime_start is not None
    assert abs((a.datetime_complete - b.datetime_complete).total_seconds()) < 60  # both local
    assert a.datetime_complete >= a.datetime_start


def test_write_outcome_rdb_writes_nothing_when_the_trial_finished_first(
    rdb_url: str, study_name: str
) -> None:
    storage = make_storage(rdb_url, cached=False)
    study = optuna.create_study(storage=storage, study_name=study_name)
    trial = study.ask()
    rdb = internals.rdb_of(storage)
    assert rdb is not None
    tid = internals.trial_id(trial)
    rdb.set_trial_state_values(tid, TrialState.FAIL)  # the coordinator failed it meanwhile
    assert not internals.write_outcome_rdb(rdb, tid, TrialState.COMPLETE, [1.0], {"late": 1})
    assert internals.write_outcome_rdb(rdb, tid, TrialState.PRUNED, None, {}) is False
    now = make_storage(rdb_url, cached=False).get_trial(tid)
    assert (now.state, now.values, now.user_attrs) == (TrialState.FAIL, None, {})
    with pytest.raises(KeyError):
        internals.write_outcome_rdb(rdb, tid + 1000, TrialState.COMPLETE, [1.0], {"a": 1})
