"""A study's and a trial's private attributes, the ask without its look for enqueued trials,
and Optuna's Pareto rule. Checked against Optuna 5.1.0."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import optuna
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from automl.search.internals.cached import created_trial

CHECKED_AGAINST = "5.1.0"  # the Optuna release every touch in this package was checked against

T = TypeVar("T")


def study_storage(study: optuna.Study) -> BaseStorage:
    """The storage a study reads and writes. Relies on ``Study._storage`` (Optuna 5.1.0);
    Optuna has no public accessor."""
    return study._storage  # type: ignore[no-any-return]


def study_id(study: optuna.Study) -> int:
    """The storage's id of a study. Relies on ``Study._study_id`` (Optuna 5.1.0)."""
    return study._study_id  # type: ignore[no-any-return]


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The storage's id of a trial, live or frozen. Relies on ``Trial._trial_id`` and
    ``FrozenTrial._trial_id`` (Optuna 5.1.0); neither has a public accessor."""
    return trial._trial_id  # type: ignore[no-any-return]


def forget_cached_trials(study: optuna.Study) -> None:
    """Drop the study's per-thread copy of its trials, as ``Study.ask`` does, so that the
    sampler reads the storage once for the next trial. Relies on
    ``Study._thread_local.cached_all_trials`` (Optuna 5.1.0)."""
    study._thread_local.cached_all_trials = None


def ask_without_waiting(study: optuna.Study) -> optuna.Trial:
    """``study.ask()`` for a caller that knows no enqueued (WAITING) trial is left.

    Kept on purpose, though ``study.ask()`` is the public path: Optuna's ask reads every
    WAITING trial from the storage first (on a journal that filters the whole study, so each
    ask costs time linear in its size), and its ``optuna.Trial`` reads the new trial back (six
    statements on an RDB storage, whose cache never serves a RUNNING trial). Measured with
    benchmarks/bench_trial_cost.py (``--storages journal-file postgresql --trials 60``, the
    coordinator's cost per trial, this function then ``study.ask()`` in its place): on
    PostgreSQL 7.8 -> 21.6 statements and 6.5 -> 14.6 ms of CPU; on a journal file no
    statements either way, 1.65 -> 2.13 ms of CPU (on a busier machine: within its noise).

    Relies on :func:`forget_cached_trials` and :func:`created_trial`; what ``Study.ask`` does
    besides (fixed distributions, the heartbeat warning) automl never asks for. Checked
    against Optuna 5.1.0.
    """
    return trial_on(study, study_storage(study).create_new_trial(study_id(study)))


def trial_on(study: optuna.Study, new_id: int) -> optuna.Trial:
    """The ``optuna.Trial`` that ``study.ask()`` hands out, on a trial this process has just
    created (:func:`ask_without_waiting`, :func:`~automl.search.internals.create_trials`):
    the study's per-thread copy of its trials dropped first, as ask does, so that the sampler
    syncs once per trial; the new trial taken from Optuna's cache, not read back.
    Relies on :func:`forget_cached_trials` and :func:`created_trial` (Optuna 5.1.0)."""
    forget_cached_trials(study)
    storage, sid = study_storage(study), study_id(study)
    known = getattr(storage, "known", None)  # automl's RetryingStorage
    if known is None:
        return optuna.Trial(study, new_id)
    with known(created_trial(storage, sid, new_id)):  # optuna.Trial reads it back first
        return optuna.Trial(study, new_id)


def pareto_front(
    trials: Sequence[T], directions: Sequence[StudyDirection], constrained: bool
) -> list[T]:
    """The trials on the Pareto front by Optuna's own rule (what ``Study.best_trials`` uses):
    COMPLETE trials no other dominates, only feasible ones when ``constrained``. ``trials``
    may be any objects with ``state``, ``values`` and ``constraints`` (the rule reads nothing
    else). Relies on ``optuna.study._multi_objective._get_pareto_front_trials_by_trials``
    (Optuna 5.1.0)."""
    from optuna.study._multi_objective import _get_pareto_front_trials_by_trials

    front: Any = _get_pareto_front_trials_by_trials(trials, directions, constrained)  # type: ignore[arg-type]
    return list(front)
