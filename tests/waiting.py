"""Waiting, in tests, for a study to reach a point where a fault is worth injecting."""

from __future__ import annotations

import time

from optuna.trial import FrozenTrial, TrialState

from automl.search import make_storage


def wait_for_training(
    storage_url: str, study_name: str, timeout_s: float = 120.0
) -> list[FrozenTrial]:
    """Block until some trial has reported an epoch; return the trials training then."""
    storage = make_storage(storage_url, cached=False)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            study_id = storage.get_study_id_from_name(study_name)
        except KeyError:  # not created yet
            time.sleep(0.05)
            continue
        training = [
            t for t in storage.get_all_trials(study_id, states=(TrialState.RUNNING,)) if t.last_step
        ]
        if training:
            return training
        time.sleep(0.02)
    raise AssertionError(f"no trial of {study_name} reported an epoch within {timeout_s:.0f} s")
