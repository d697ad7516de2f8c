"""A study whose log exercises every rule ``automl status`` reads by, built through Optuna's
public API (and automl's batched attribute write) in any storage; and the plain Optuna read
of it that status must match.

One objective (maximize), created by ``open_study``. In order: an enqueued trial run; a
COMPLETE best value that is infeasible; trials of another study in between (that study is
deleted and created again later); a feasible tie (the first one is best); pruned and failed
trials (a fail reason written after the end, which Optuna refuses; none; one that is not
text); a trial added whole with its params (a template, as ``add_trial`` writes it); two
RUNNING trials, one whose param Optuna rejected (another kind of distribution), one with a
user attribute that quotes another trial's id; a WAITING trial left in the queue.
"""

from __future__ import annotations

import contextlib
import warnings
from collections import Counter
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalRedisBackend
from optuna.trial import TrialState, create_trial

from automl.search.batch import set_trial_user_attrs
from automl.search.status_read import StatusFacts, reasons
from automl.search.storage import storage_kind

DISTS = {"lr": FloatDistribution(1e-3, 1e-1, log=True), "width": IntDistribution(8, 64, log=True),
         "optimizer": CategoricalDistribution(["adamw", "sgd"])}  # fmt: skip


def _ask(study: optuna.Study, steps: tuple[float, ...] = (), **attrs: Any) -> optuna.Trial:
    trial = study.ask()
    trial.suggest_float("lr", 1e-3, 1e-1, log=True)
    trial.suggest_int("width", 8, 64, log=True)
    if trial.suggest_categorical("optimizer", ["adamw", "sgd"]) == "sgd":
        trial.suggest_float("momentum", 0.5, 0.9)
    for step, value in enumerate(steps, start=1):
        trial.report(value, step)
    set_trial_user_attrs(study._storage, trial._trial_id, {"host": "box", "slot": "cpu", **attrs})
    return trial


def _constrain(study: optuna.Study, trial: optuna.Trial, key: str, value: Any) -> None:
    study._storage.set_trial_system_attr(trial._trial_id, key, value)


def build_study(study: optuna.Study) -> None:
    """The trials listed above, added to ``study`` (one objective, maximize)."""
    storage = study._storage
    other_name = study.study_name + "-other"
    other = optuna.create_study(storage=storage, study_name=other_name)
    study.enqueue_trial({"lr": 0.01, "width": 16, "optimizer": "adamw"})
    study.tell(_ask(study, (0.5, 0.7), best_epoch=2), 0.7)  # the enqueued one, run
    t = _ask(study, (0.9,), best_epoch=1)
    _constrain(study, t, "constraints", [1.0])  # the best value, infeasible
    study.tell(t, 0.9)
    other.tell(other.ask(), 1.0)
    for epoch in (3, 4):  # a tie of feasible trials: the first is best
        t = _ask(study, (0.6, 0.8, float("nan"), 0.85)[:epoch], best_epoch=epoch)
        _constrain(study, t, "constraints:params", -1.0)
        study.tell(t, 0.85)
    study.tell(_ask(study, (0.3, 0.4)), state=TrialState.PRUNED)
    t = _ask(study, (0.1,), fail_reason="out of memory")
    study.tell(t, state=TrialState.FAIL)
    with contextlib.suppress(UpdateFinishedTrialError):  # a journal keeps the line, ignored
        storage.set_trial_user_attr(t._trial_id, "fail_reason", "written after the end")
    study.tell(_ask(study), state=TrialState.FAIL)  # no reason
    study.tell(_ask(study, fail_reason=42), state=TrialState.FAIL)  # not text
    optuna.delete_study(study_name=other_name, storage=storage)
    study.tell(_ask(study, fail_reason="out of memory"), state=TrialState.FAIL)
    again = optuna.create_study(storage=storage, study_name=other_name)
    again.ask()
    running = _ask(study, (0.2,), checkpoint_epoch=1, note='says ,"trial_id":1, in text')
    study.add_trial(create_trial(
        value=0.6, params={"lr": 0.02, "width": 20, "optimizer": "sgd"}, distributions=DISTS,
        user_attrs={"quotes": {"a": 1, "trial_id": running._trial_id}, "best_epoch": 5},
    ))  # fmt: skip
    rejected = study.ask()
    rejected.suggest_float("lr", 1e-3, 1e-1, log=True)
    with contextlib.suppress(ValueError):  # another kind of distribution: Optuna refuses it
        rejected.suggest_categorical("width", [8, 16])
    rejected.report(0.1, 1)
    study.enqueue_trial({"lr": 0.05})  # left waiting


def fresh_storage(url: str) -> optuna.storages.BaseStorage:
    """The storage at ``url`` opened anew by Optuna alone (no cache shared with the writer)."""
    kind = storage_kind(url)
    if kind == "journal_file":
        return JournalStorage(JournalFileBackend(url))
    if kind == "redis":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return JournalStorage(JournalRedisBackend(url))
    return RDBStorage(url.replace("postgresql://", "postgresql+psycopg://"))


def plain_facts(url: str, name: str) -> StatusFacts:
    """What status shows, read the plain way: every trial through Optuna."""
    study = optuna.load_study(study_name=name, storage=fresh_storage(url))
    trials = study.get_trials(deepcopy=False)
    facts = StatusFacts(
        name,
        list(study.directions),
        study.metric_names,
        dict(Counter(t.state.name for t in trials)),
    )
    if len(study.directions) > 1:
        facts.front = list(study.best_trials)
    else:  # Study.best_trial's rule, read off every trial: on PostgreSQL Optuna's own query
        # leaves a tie to the database, and status names the first
        feasible = [
            t
            for t in trials
            if t.state == TrialState.COMPLETE and all(v <= 0 for v in t.constraints.values())
        ]
        pick = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
        facts.best = pick(feasible, key=lambda t: t.value) if feasible else None
    facts.running = [t for t in trials if t.state == TrialState.RUNNING]
    facts.fail_reasons = reasons(t for t in trials if t.state == TrialState.FAIL)
    return facts
