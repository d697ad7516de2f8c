"""One guard per touch of Optuna's internals (automl.search.internals): each fails, naming
what moved, the day an Optuna release moves a private name automl relies on. Fast: in memory,
SQLite and journal files only (test_internals.py runs the same writes on every storage). Here
the rule, a study's and a trial's attributes and Optuna's cache; the RDB storage's and the
journal's internals in test_internals_guards_storage.py.

These tests reach into Optuna on purpose: that is what they check. When one fails, read the
new release's source for the name, change the touch in automl.search.internals, and raise the
pin in pyproject.toml with CHECKED_AGAINST."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.storages import RDBStorage
from optuna.trial import TrialState

from automl.search import internals, make_storage
from tests.search.sql_count import statements

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "automl" / "search" / "internals"


def moved(name: str) -> str:
    return (
        f"Optuna {optuna.__version__} moved or changed {name}, which "
        "automl.search.internals relies on "
        f"(checked against {internals.CHECKED_AGAINST}); adapt the touch there, then the "
        "pin in pyproject.toml"
    )


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
    undated = [
        n
        for n, doc in found.items()
        if f"Optuna {internals.CHECKED_AGAINST}" not in " ".join(doc.split())
    ]
    assert not undated, f"say 'Optuna {internals.CHECKED_AGAINST}' in the docstring of {undated}"
    from tests.search import test_internals_guards_storage as storage_guards

    here = {name for name in [*globals(), *vars(storage_guards)] if name.startswith("test_")}
    unguarded = [n for n in found if not any(t.startswith(f"test_{n}") for t in here)]
    assert not unguarded, f"no guard test_<name>... in the guard files for {unguarded}"


def test_the_pin_is_the_minor_the_internals_were_checked_against() -> None:
    pin = re.search(r'"optuna>=(\d+)\.(\d+),<(\d+)\.(\d+)"', (ROOT / "pyproject.toml").read_text())
    assert pin, "pyproject.toml pins optuna to one minor: optuna>=X.Y,<X.Y+1"
    low, high = (int(pin[1]), int(pin[2])), (int(pin[3]), int(pin[4]))
    checked = tuple(int(p) for p in internals.CHECKED_AGAINST.split(".")[:2])
    assert low == checked and high == (low[0], low[1] + 1), (
        f"the pin {pin[0]} is not the one minor the internals were checked against "
        f"({internals.CHECKED_AGAINST})"
    )
    installed = tuple(int(p) for p in optuna.__version__.split(".")[:2])
    assert installed == checked, moved(
        f"the whole of Optuna {optuna.__version__}: run these guards, then raise the pin"
    )


# --- studies.py ----------------------------------------------------------------------------


def test_study_storage_is_the_storage_the_study_uses() -> None:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage)
    assert internals.study_storage(study) is storage, moved("Study._storage")


def test_study_id_is_the_storage_id_of_the_study() -> None:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="guard")
    assert internals.study_id(study) == storage.get_study_id_from_name("guard"), moved(
        "Study._study_id"
    )


def test_trial_id_of_a_live_and_a_frozen_trial() -> None:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage)
    study.ask()
    trial = study.ask()
    expected = storage.get_trial_id_from_study_id_trial_number(internals.study_id(study), 1)
    assert internals.trial_id(trial) == expected, moved("Trial._trial_id")
    assert internals.trial_id(storage.get_trial(expected)) == expected, moved(
        "FrozenTrial._trial_id"
    )


def test_forget_cached_trials_clears_what_get_trials_serves_in_optimize() -> None:
    study = optuna.create_study()
    assert hasattr(study._thread_local, "cached_all_trials"), moved(
        "Study._thread_local.cached_all_trials"
    )
    source = inspect.getsource(optuna.Study)
    assert "self._thread_local.cached_all_trials = None" in source, moved(
        "Study.ask's reset of cached_all_trials"
    )
    study._thread_local.cached_all_trials = []
    internals.forget_cached_trials(study)
    assert study._thread_local.cached_all_trials is None


def test_ask_without_waiting_makes_the_trial_study_ask_makes(
    local_url: str, study_name: str
) -> None:
    plain = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    study = optuna.create_study(
        storage=make_storage(local_url, cached=False),
        study_name=study_name,
        sampler=optuna.samplers.RandomSampler(seed=1),
    )
    for _ in range(2):
        mine, theirs = internals.ask_without_waiting(study), plain.ask()
        assert mine.number == theirs.number
        assert mine.suggest_float("x", 0, 1) == theirs.suggest_float("x", 0, 1)
    stored = make_storage(local_url, cached=False).get_all_trials(internals.study_id(study))
    assert [(t.number, t.state, set(t.params)) for t in stored] == [
        (0, TrialState.RUNNING, {"x"}),
        (1, TrialState.RUNNING, {"x"}),
    ]


def test_trial_on_a_created_trial_reads_nothing_back(sqlite_url: str, study_name: str) -> None:
    storage = make_storage(sqlite_url, cached=False)
    study = optuna.create_study(
        storage=storage, study_name=study_name, sampler=optuna.samplers.RandomSampler(seed=1)
    )
    new_id = storage.create_new_trial(internals.study_id(study))
    with statements() as seen:
        trial = internals.trial_on(study, new_id)
    assert trial.number == 0 and not [
        s for s in seen if "FROM trials" in s and "trial_id =" in s
    ], seen


def test_pareto_front_is_optunas_best_trials() -> None:
    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0, 1)
        trial.set_constraint("x_at_most_0.8", x - 0.8)  # feasible when <= 0
        return x, trial.suggest_float("y", 0, 1)

    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0)
    )
    study.optimize(objective, n_trials=40)
    trials, best = study.get_trials(), sorted(t.number for t in study.best_trials)
    unconstrained = internals.pareto_front(trials, study.directions, constrained=False)
    assert sorted(t.number for t in unconstrained) != best  # the constraints decide here
    front = internals.pareto_front(trials, study.directions, constrained=True)
    assert sorted(t.number for t in front) == best, moved(
        "optuna.study._multi_objective._get_pareto_front_trials_by_trials"
    )


# --- cached.py -----------------------------------------------------------------------------


def test_under_cache_is_the_rdb_storage_under_optunas_cache(sqlite_url: str) -> None:
    rdb = RDBStorage(sqlite_url)
    cached = optuna.storages.get_storage(rdb)
    assert type(cached).__name__ == "_CachedStorage", moved(
        "optuna.storages._cached_storage._CachedStorage"
    )
    assert internals.under_cache(cached) is rdb, moved("_CachedStorage._backend")
    assert internals.under_cache(rdb) is None
    assert internals.cache_backend(make_storage(sqlite_url, cached=False)) is not None


def test_cache_of_a_trial_the_cache_created(sqlite_url: str, study_name: str) -> None:
    storage = make_storage(sqlite_url, cached=False)
    trial = optuna.create_study(storage=storage, study_name=study_name).ask()
    trial.suggest_float("x", 0, 1)
    cache = internals.cache_of(storage.inner, internals.trial_id(trial))  # type: ignore[attr-defined]
    assert cache is not None, moved(
        "_CachedStorage._lock, _trial_id_to_study_id_and_number or _studies"
    )
    assert cache.param_distributions(internals.trial_id(trial)) == {"x": FloatDistribution(0, 1)}, (
        moved("_CachedStorage._studies[id].param_distribution")
    )


def test_created_trial_is_served_without_a_read(sqlite_url: str, study_name: str) -> None:
    storage = make_storage(sqlite_url, cached=False)
    study = optuna.create_study(storage=storage, study_name=study_name)
    new_id = storage.create_new_trial(internals.study_id(study))
    with statements() as seen:
        frozen = internals.created_trial(storage, internals.study_id(study), new_id)
    assert (frozen.number, frozen.state) == (0, TrialState.RUNNING)
    assert seen == [], moved(
        "_CachedStorage._trial_id_to_study_id_and_number or _studies[id].trials"
    )
