"""Optuna's internals that automl leans on for speed, in one place.

Each function here reaches past Optuna's public API because the public path costs a read of
the storage that automl can prove unnecessary. Each has a guard in
tests/search/test_internals.py that fails when an Optuna release moves what it reaches, and
each falls back to the public path when what it needs is not there. Checked against Optuna
5.1.0.
"""

from __future__ import annotations

from optuna.storages import BaseStorage
from optuna.storages._cached_storage import _CachedStorage
from optuna.trial import FrozenTrial


def created_trial(storage: BaseStorage, study_id: int, trial_id: int) -> FrozenTrial:
    """The trial this process just created with ``storage.create_new_trial``, as created.

    Optuna's cache in front of an RDB storage keeps the trial it created; reading it back
    through ``get_trial`` would cost six statements, since a RUNNING trial is never served
    from that cache. Any other storage is read (a journal answers from memory).
    """
    cached = getattr(storage, "inner", storage)
    if isinstance(cached, _CachedStorage):
        ids = getattr(cached, "_trial_id_to_study_id_and_number", None)
        studies = getattr(cached, "_studies", None)
        if isinstance(ids, dict) and isinstance(studies, dict) and trial_id in ids:
            known_study, number = ids[trial_id]
            trials = getattr(studies.get(known_study), "trials", None)
            frozen = trials.get(number) if isinstance(trials, dict) else None
            if known_study == study_id and isinstance(frozen, FrozenTrial):
                return frozen
    return storage.get_trial(trial_id)
