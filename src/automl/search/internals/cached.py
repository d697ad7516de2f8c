"""Optuna's cache in front of an RDB storage (``optuna.storages._cached_storage``): what it
wraps, what it knows of a trial this process created, its record of each param's
distribution. Checked against Optuna 5.1.0."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial


def _cached_storage_class() -> type:
    from optuna.storages._cached_storage import _CachedStorage

    return _CachedStorage


def under_cache(storage: BaseStorage) -> BaseStorage | None:
    """The storage under Optuna's cache when ``storage`` is that cache; None otherwise.
    Relies on ``optuna.storages._cached_storage._CachedStorage`` and its ``_backend`` (Optuna
    5.1.0)."""
    return storage._backend if isinstance(storage, _cached_storage_class()) else None  # type: ignore[attr-defined,no-any-return]


def cache_backend(storage: BaseStorage) -> BaseStorage:
    """The storage under automl's retrying wrapper and Optuna's cache (:func:`under_cache`),
    or ``storage`` itself when it has neither."""
    storage = getattr(storage, "inner", storage)
    backend = under_cache(storage)
    return storage if backend is None else backend


@dataclass
class CacheState:
    """What :func:`cache_of` hands out: the cache's lock, and under it the study and
    distributions it records for each trial and study."""

    lock: threading.Lock
    trial_ids: dict[int, tuple[int, int]]  # trial id -> (study id, number)
    studies: dict[int, Any]  # study id -> Optuna's _StudyInfo (trials, param_distribution)

    def param_distributions(self, trial_id: int) -> dict[str, BaseDistribution]:
        """The distribution the cache records for each param of the trial's study (mutable:
        the caller adds what it writes, as Optuna's cache does)."""
        return self.studies[self.trial_ids[trial_id][0]].param_distribution  # type: ignore[no-any-return]


def cache_of(storage: BaseStorage, trial_id: int) -> CacheState | None:
    """The state of Optuna's cache when ``storage`` (not wrapped) is one and knows
    ``trial_id``; None otherwise. Relies on ``_CachedStorage._lock``,
    ``._trial_id_to_study_id_and_number`` and ``._studies[id].param_distribution`` (Optuna
    5.1.0)."""
    if not isinstance(storage, _cached_storage_class()):
        return None
    lock, ids, studies = (
        getattr(storage, a, None) for a in ("_lock", "_trial_id_to_study_id_and_number", "_studies")
    )
    if (
        lock is None
        or not isinstance(ids, dict)
        or not isinstance(studies, dict)
        or trial_id not in ids
    ):
        return None
    if not hasattr(studies.get(ids[trial_id][0]), "param_distribution"):
        return None
    return CacheState(lock, ids, studies)  # type: ignore[arg-type]


def created_trial(storage: BaseStorage, study_id: int, trial_id: int) -> FrozenTrial:
    """The trial this process just created with ``storage.create_new_trial``, as created.

    Optuna's cache in front of an RDB storage keeps the trial it created; reading it back
    through ``get_trial`` would cost six statements, since a RUNNING trial is never served
    from that cache. Any other storage is read (a journal answers from memory). Relies on
    ``_CachedStorage._trial_id_to_study_id_and_number`` and ``._studies[id].trials`` (Optuna
    5.1.0); falls back to the read when they are not there.
    """
    cached = getattr(storage, "inner", storage)
    if isinstance(cached, _cached_storage_class()):
        ids = getattr(cached, "_trial_id_to_study_id_and_number", None)
        studies = getattr(cached, "_studies", None)
        if isinstance(ids, dict) and isinstance(studies, dict) and trial_id in ids:
            known_study, number = ids[trial_id]
            trials = getattr(studies.get(known_study), "trials", None)
            frozen = trials.get(number) if isinstance(trials, dict) else None
            if known_study == study_id and isinstance(frozen, FrozenTrial):
                return frozen
    return storage.get_trial(trial_id)
