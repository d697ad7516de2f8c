"""One guard per touch of Optuna's internals (automl.search.internals): each fails, naming
what moved, the day an Optuna release moves a private name automl relies on. Fast: in memory,
SQLite and journal files only (test_internals.py runs the same writes on every storage).

These tests reach into Optuna on purpose: that is what they check. When one fails, read the
new release's source for the name, change the touch in automl.search.internals, and raise the
pin in pyproject.toml with CHECKED_AGAINST."""

from __future__ import annotations

import ast
import inspect
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import JournalStorage, RDBStorage
from optuna.trial import TrialState
from sqlalchemy import event
from sqlalchemy.engine import Engine

from automl.search import internals, make_storage

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "automl" / "search" / "internals"


def moved(name: str) -> str:
    return (
        f"Optuna {optuna.__version__} moved or changed {name}, which automl.search.internals relies on "
        f"(checked against {internals.CHECKED_AGAINST}); adapt the touch there, then the pin in pyproject.toml"
    )


@contextmanager
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def note(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", note)


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


@pytest.fixture(params=["sqlite", "journal_file"])
def local_url(request: pytest.FixtureRequest, sqlite_url: str, journal_url: str) -> str:
    return sqlite_url if request.param == "sqlite" else journal_url


def touches() -> dict[str, str]:
    """Each function of the package whose docstring says what it relies on, by name."""
    found = {}
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and "Relies on" in (ast.get_docstring(node) or ""):
                found[node.name] = ast.get_docstring(node) or ""
    return found


# --- the rule itself -----------------------------------------------------------------------


def test_every_touch_names_the_release_it_was_checked_against_and_has_a_guard() -> None:
    found = touches()
    assert len(found) >= 15, f"touches found: {sorted(found)}"
    undated = [n for n, doc in found.items() if f"Optuna {internals.CHECKED_AGAINST}" not in " ".join(doc.split())]
    assert not undated, f"say 'Optuna {internals.CHECKED_AGAINST}' in the docstring of {undated}"
    here = {name for name in globals() if name.startswith("test_")}
    unguarded = [n for n in found if not any(t.startswith(f"test_{n}") for t in here)]
    assert not unguarded, f"no guard test_<name>... in this file for {unguarded}"


def test_the_pin_is_the_minor_the_internals_were_checked_against() -> None:
    pin = re.search(r'"optuna>=(\d+)\.(\d+),<(\d+)\.(\d+)"', (ROOT / "pyproject.toml").read_text())
    assert pin, "pyproject.toml pins optuna to one minor: optuna>=X.Y,<X.Y+1"
    low, high = (int(pin[1]), int(pin[2])), (int(pin[3]), int(pin[4]))
    checked = tuple(int(p) for p in internals.CHECKED_AGAINST.split(".")[:2])
    assert low == checked and high == (low[0], low[1] + 1), (
        f"the pin {pin[0]} is not the one minor the internals were checked against ({internals.CHECKED_AGAINST})"
    )
    installed = tuple(int(p) for p in optuna.__version__.split(".")[:2])
    assert installed == checked, moved(f"the whole of Optuna {optuna.__version__}: run these guards, then raise the pin")


# --- studies.py ----------------------------------------------------------------------------


def test_study_storage_is_the_storage_the_study_uses() -> None:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage)
    assert internals.study_storage(study) is storage, moved("Study._storage")


def test_study_id_is_the_storage_id_of_the_study() -> None:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="guard")
    assert internals.study_id(study) == storage.get_study_id_from_name("guard"), moved("Study._study_id")


def test_trial_id_of_a_live_and_a_frozen_trial() -> None:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage)
    study.ask()
    trial = study.ask()
    expected = storage.get_trial_id_from_study_id_trial_number(internals.study_id(study), 1)
    assert internals.trial_id(trial) == expected, moved("Trial._trial_id")
    assert internals.trial_id(storage.get_trial(expected)) == expected, moved("FrozenTrial._trial_id")


def test_forget_cached_trials_clears_what_get_trials_serves_in_optimize() -> None:
    study = optuna.create_study()
    assert hasattr(study._thread_local, "cached_all_trials"), moved("Study._thread_local.cached_all_trials")
    source = inspect.getsource(optuna.Study)
    assert "self._thread_local.cached_all_trials = None" in source, moved("Study.ask's reset of cached_all_trials")
    study._thread_local.cached_all_trials = []
    internals.forget_cached_trials(study)
    assert study._thread_local.cached_all_trials is None


def test_ask_without_waiting_makes_the_trial_study_ask_makes(local_url: str, study_name: str) -> None:
    plain = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    study = optuna.create_study(storage=make_storage(local_url, cached=False), study_name=study_name,
                                sampler=optuna.samplers.RandomSampler(seed=1))  # fmt: skip
    for _ in range(2):
        mine, theirs = internals.ask_without_waiting(study), plain.ask()
        assert mine.number == theirs.number
        assert mine.suggest_float("x", 0, 1) == theirs.suggest_float("x", 0, 1)
    stored = make_storage(local_url, cached=False).get_all_trials(internals.study_id(study))
    assert [(t.number, t.state, set(t.params)) for t in stored] == [(0, TrialState.RUNNING, {"x"}), (1, TrialState.RUNNING, {"x"})]


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # constraints_func
def test_pareto_front_is_optunas_best_trials() -> None:
    study = optuna.create_study(
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.NSGAIISampler(seed=0, constraints_func=lambda t: [t.params["x"] - 0.8]),
    )
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=40)
    trials = study.get_trials()
    front = internals.pareto_front(trials, study.directions, constrained=True)
    assert sorted(t.number for t in front) == sorted(t.number for t in study.best_trials), moved(
        "optuna.study._multi_objective._get_pareto_front_trials_by_trials"
    )


# --- cached.py -----------------------------------------------------------------------------


def test_under_cache_is_the_rdb_storage_under_optunas_cache(sqlite_url: str) -> None:
    rdb = RDBStorage(sqlite_url)
    cached = optuna.storages.get_storage(rdb)
    assert type(cached).__name__ == "_CachedStorage", moved("optuna.storages._cached_storage._CachedStorage")
    assert internals.under_cache(cached) is rdb, moved("_CachedStorage._backend")
    assert internals.under_cache(rdb) is None
    assert internals.cache_backend(make_storage(sqlite_url, cached=False)) is not None


def test_cache_of_a_trial_the_cache_created(sqlite_url: str, study_name: str) -> None:
    storage = make_storage(sqlite_url, cached=False)
    trial = optuna.create_study(storage=storage, study_name=study_name).ask()
    trial.suggest_float("x", 0, 1)
    cache = internals.cache_of(storage.inner, internals.trial_id(trial))  # type: ignore[attr-defined]
    assert cache is not None, moved("_CachedStorage._lock, _trial_id_to_study_id_and_number or _studies")
    assert cache.param_distributions(internals.trial_id(trial)) == {"x": FloatDistribution(0, 1)}, moved(
        "_CachedStorage._studies[id].param_distribution"
    )


def test_created_trial_is_served_without_a_read(sqlite_url: str, study_name: str) -> None:
    storage = make_storage(sqlite_url, cached=False)
    study = optuna.create_study(storage=storage, study_name=study_name)
    new_id = storage.create_new_trial(internals.study_id(study))
    with statements() as seen:
        frozen = internals.created_trial(storage, internals.study_id(study), new_id)
    assert (frozen.number, frozen.state) == (0, TrialState.RUNNING)
    assert seen == [], moved("_CachedStorage._trial_id_to_study_id_and_number or _studies[id].trials")


# --- rdb.py and rdb_queries.py ---------------------------------------------------------------


def test_rdb_models_have_every_model_and_column_automl_uses() -> None:
    models = internals.rdb_models()
    used = {
        "TrialModel": ["trial_id", "number", "state", "study_id", "find_or_raise_by_id"],
        "TrialParamModel": ["trial_id", "param_name", "param_value", "distribution_json"],
        "TrialIntermediateValueModel": [
            "trial_id", "step", "intermediate_value", "intermediate_value_type", "intermediate_value_to_stored_repr",
        ],
        "TrialUserAttributeModel": ["trial_id", "key", "value_json"],
        "TrialSystemAttributeModel": ["trial_id", "key", "value_json"],
        "TrialValueModel": ["trial_id", "objective", "value", "value_type", "stored_repr_to_value"],
    }  # fmt: skip
    for model, names in used.items():
        missing = [n for n in names if not hasattr(getattr(models, model, None), n)]
        assert not missing, moved(f"optuna.storages._rdb.models.{model}.{', '.join(missing)}")


def test_rdb_session_commits_and_raises_as_optunas_writes() -> None:
    from optuna.storages._rdb import storage as rdb_storage

    assert parameters(rdb_storage._create_scoped_session) == ["scoped_session", "ignore_integrity_error"], moved(
        "optuna.storages._rdb.storage._create_scoped_session"
    )


def test_rdb_session_writes_a_row(sqlite_url: str, study_name: str) -> None:
    storage = make_storage(sqlite_url, cached=False)
    trial = optuna.create_study(storage=storage, study_name=study_name).ask()
    rdb = internals.rdb_of(storage)
    assert rdb is not None
    with internals.rdb_session(rdb, ignore_integrity_error=True) as session:
        internals.set_trial_attr_without_commit(rdb, session, internals.trial_id(trial), "k", [1])
    assert make_storage(sqlite_url, cached=False).get_trial(internals.trial_id(trial)).user_attrs == {"k": [1]}


def test_set_trial_attr_without_commit_has_optunas_signature() -> None:
    expected = ["self", "session", "model_cls", "trial_id", "key", "value"]
    assert parameters(RDBStorage._set_trial_attr_without_commit) == expected, moved("RDBStorage._set_trial_attr_without_commit")


def test_set_trial_param_without_commit_checks_against_the_study(sqlite_url: str, study_name: str) -> None:
    expected = ["self", "session", "trial_id", "param_name", "param_value_internal", "distribution", "previous_distribution"]
    assert parameters(RDBStorage._set_trial_param_without_commit) == expected, moved("RDBStorage._set_trial_param_without_commit")
    storage = make_storage(sqlite_url, cached=False)
    trial = optuna.create_study(storage=storage, study_name=study_name).ask()
    rdb, tid = internals.rdb_of(storage), internals.trial_id(trial)
    assert rdb is not None
    with internals.rdb_session(rdb, ignore_integrity_error=True) as session:
        internals.set_trial_param_without_commit(rdb, session, tid, ("x", 0.5, FloatDistribution(0, 1)), None)
    assert make_storage(sqlite_url, cached=False).get_trial(tid).params == {"x": 0.5}


def test_rdb_of_finds_the_rdb_storage(local_url: str) -> None:
    storage = make_storage(local_url, cached=False)
    assert (internals.rdb_of(storage) is not None) == local_url.startswith("sqlite"), moved("RDBStorage's helpers")


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
    assert again.get_trial(internals.trial_id(mine)).user_attrs == again.get_trial(internals.trial_id(theirs)).user_attrs
    study.tell(mine, 1.0)
    with pytest.raises(UpdateFinishedTrialError):
        internals.write_user_attrs_rdb(rdb, internals.trial_id(mine), {"late": 1})


def test_write_params_writes_what_optuna_writes(local_url: str, study_name: str) -> None:
    storage = make_storage(local_url, cached=False)
    study = optuna.create_study(storage=storage, study_name=study_name)
    first, second = study.ask(), study.ask()
    first.suggest_float("x", 0, 1)  # the study knows x: the one-INSERT path on an RDB
    params = [("x", 0.25, FloatDistribution(0, 1)), ("y", 2.0, FloatDistribution(1, 3))]
    internals.write_params(storage.inner, internals.trial_id(second), params)  # type: ignore[attr-defined]
    assert make_storage(local_url, cached=False).get_trial(internals.trial_id(second)).params == {"x": 0.25, "y": 2.0}
    with pytest.raises(ValueError):  # another distribution for x: refused as Optuna refuses it
        internals.write_params(storage.inner, internals.trial_id(study.ask()), [("x", 5.0, FloatDistribution(4, 6, log=True))])  # type: ignore[attr-defined]


def test_set_intermediate_value_writes_what_optuna_writes(local_url: str, study_name: str) -> None:
    storage = make_storage(local_url, cached=False)
    trial = optuna.create_study(storage=storage, study_name=study_name).ask()
    tid = internals.trial_id(trial)
    for step, value in ((1, 0.5), (2, float("inf")), (1, 0.25)):
        internals.set_intermediate_value(storage.inner, tid, step, value)  # type: ignore[attr-defined]
    assert make_storage(local_url, cached=False).get_trial(tid).intermediate_values == {1: 0.25, 2: float("inf")}


def test_count_states_rdb_running_numbers_rdb_and_trial_rows_rdb_match_optuna(sqlite_url: str, study_name: str) -> None:
    storage = make_storage(sqlite_url, cached=False)
    study = optuna.create_study(storage=storage, study_name=study_name, directions=["minimize", "maximize"])
    done, _running, failed = study.ask(), study.ask(), study.ask()
    study.tell(done, [1.0, 2.0])
    failed.set_user_attr("fail_reason", "boom")
    study.tell(failed, state=TrialState.FAIL)
    sid = internals.study_id(study)
    assert dict(internals.count_states_rdb(storage, sid)) == {TrialState.COMPLETE: 1, TrialState.RUNNING: 1, TrialState.FAIL: 1}
    assert internals.running_numbers_rdb(storage, sid) == {1}
    assert internals.fail_reason_rows_rdb(storage, sid, "fail_reason") == [(2, json.dumps("boom"))]
    rows = {r[1]: r for r in internals.trial_rows_rdb(storage, sid)}
    assert (rows[0][2], rows[0][3], rows[1][3]) == (TrialState.COMPLETE, [(0, 1.0), (1, 2.0)], None)


def test_fail_reason_rows_rdb_for_a_failed_trial_without_a_reason(sqlite_url: str, study_name: str) -> None:
    storage = make_storage(sqlite_url, cached=False)
    study = optuna.create_study(storage=storage, study_name=study_name)
    study.tell(study.ask(), state=TrialState.FAIL)
    assert internals.fail_reason_rows_rdb(storage, internals.study_id(study), "fail_reason") == [(0, None)]


# --- journal.py ----------------------------------------------------------------------------


def test_journal_operations_has_the_op_codes_automl_appends() -> None:
    ops = internals.journal_operations()
    assert (ops.SET_TRIAL_PARAM, ops.SET_TRIAL_USER_ATTR) == (5, 8), moved("optuna.storages.journal._storage.JournalOperation")


def test_journal_of_finds_the_journal_storage(local_url: str) -> None:
    storage = make_storage(local_url, cached=False)
    journal = internals.journal_of(storage)
    assert (journal is not None) == local_url.endswith(".journal"), moved(
        "JournalStorage._thread_lock, _replay_result, _backend or _sync_with_backend"
    )


def test_append_to_journal_is_read_back_as_optunas_own_writes(journal_url: str, study_name: str) -> None:
    storage = make_storage(journal_url, cached=False)
    study = optuna.create_study(storage=storage, study_name=study_name)
    trial = study.ask()
    journal = internals.journal_of(storage)
    assert isinstance(journal, JournalStorage)
    assert isinstance(journal._replay_result.worker_id, str), moved("JournalStorage._replay_result.worker_id")
    internals.journal_user_attrs(journal, internals.trial_id(trial), {"a": 1, "b": [2]})
    internals.journal_params(journal, internals.trial_id(trial), [("x", 0.5, FloatDistribution(0, 1))])
    fresh = make_storage(journal_url, cached=False).get_trial(internals.trial_id(trial))
    assert (fresh.user_attrs, fresh.params) == ({"a": 1, "b": [2]}, {"x": 0.5}), moved("the journal's entries")
    assert journal.get_trial(internals.trial_id(trial)).user_attrs == {"a": 1, "b": [2]}  # read back: applied here too
    study.tell(trial, 1.0)
    with pytest.raises(UpdateFinishedTrialError):  # the read-back raises as set_trial_user_attr does
        internals.journal_user_attrs(journal, internals.trial_id(trial), {"late": 1})
