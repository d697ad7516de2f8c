"""Run one trial inside a worker: read it from the storage, train, tell the storage.

This is the one place where Optuna meets the training engine. Local worker processes and
Celery tasks both call :func:`execute_trial` with ids only (storage URL, study name, trial
number); everything else comes from the storage.

Outcomes: a returned value -> COMPLETE; :class:`TrialPruned` -> PRUNED (reason kept);
anything else -> FAIL with the reason as a one-line ``fail_reason`` user attribute.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import TrialState

from automl.errors import AutoMLError, TrialPruned
from automl.search.storage import mask_text
from automl.search.study import load_study, trial_by_number
from automl.spec.space import complete_params
from automl.tracking import log_trial

log = logging.getLogger(__name__)

_data_cache: Any = None


class ClaimLost(Exception):  # noqa: N818 - a signal to stop, not an error of the trial
    """Another delivery owns this trial now: stop training it, and tell the storage nothing."""


class OptunaReporter:
    """Adapts an Optuna trial to the training engine's :class:`Reporter` protocol."""

    def __init__(self, trial: optuna.trial.Trial, should_stop: Callable[[], bool] = lambda: False) -> None:
        self._trial = trial
        self._should_stop = should_stop

    def report(self, epoch: int, value: float) -> None:
        if self._should_stop():
            raise ClaimLost(f"trial {self._trial.number}: claimed by another delivery")
        if math.isfinite(value):  # Optuna refuses nan; divergence is reported by the engine
            self._trial.report(value, step=epoch)

    def should_prune(self) -> bool:
        return self._trial.should_prune()


def execute_trial(
    storage_url: str, study_name: str, trial_number: int, *, slot: str = "cpu", should_stop: Callable[[], bool] = lambda: False
) -> TrialState:
    """Train trial ``trial_number`` and record its outcome; return the state it ended in.

    A trial that is no longer RUNNING (finished, or failed by the coordinator meanwhile) is
    left alone: a message delivered twice trains once. ``should_stop`` is asked at every epoch;
    when it turns true, :class:`ClaimLost` is raised and nothing more is written.
    """
    from automl import training  # torch is imported only in processes that train

    global _data_cache
    if _data_cache is None:
        _data_cache = training.DataCache()

    study, spec = load_study(storage_url, study_name)
    frozen = trial_by_number(study, trial_number)
    if frozen.state != TrialState.RUNNING:
        log.info("trial %d is %s; not running it again", trial_number, frozen.state.name)
        return frozen.state
    trial = optuna.trial.Trial(study, frozen._trial_id)  # noqa: SLF001 - the id of this trial
    storage = study._storage  # noqa: SLF001
    tid = frozen._trial_id  # noqa: SLF001
    storage.set_trial_user_attr(tid, "host", socket.gethostname())
    storage.set_trial_user_attr(tid, "slot", slot)
    storage.set_trial_user_attr(tid, "pid", os.getpid())
    params = complete_params(spec.space, frozen.params)
    started = time.monotonic()
    state: TrialState
    values: float | None = None
    try:
        result = training.run_trial(spec, params, OptunaReporter(trial, should_stop), cache=_data_cache)
    except ClaimLost:
        raise
    except TrialPruned as pruned:
        _set_attrs(storage, tid, pruned.details)
        storage.set_trial_user_attr(tid, "prune_reason", pruned.reason)
        storage.set_trial_user_attr(tid, "pruned_at_epoch", pruned.epoch)
        state = TrialState.PRUNED
    except Exception as exc:  # noqa: BLE001 - every failure becomes a reason on the trial
        reason = failure_reason(exc, storage_url)
        log.warning("trial %d failed: %s", trial_number, reason)
        storage.set_trial_user_attr(tid, "fail_reason", reason)
        if not isinstance(exc, AutoMLError):
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-6))
            storage.set_trial_user_attr(tid, "traceback", mask_text(tb, storage_url)[-4000:])
        state = TrialState.FAIL
    else:
        _set_attrs(storage, tid, result.user_attrs())
        values = result.value
        state = TrialState.COMPLETE if math.isfinite(result.value) else TrialState.FAIL
        if state == TrialState.FAIL:
            storage.set_trial_user_attr(tid, "fail_reason", f"the score is {result.value}")
            values = None
    storage.set_trial_user_attr(tid, "duration_s", round(time.monotonic() - started, 3))
    study.tell(trial_number, values if state == TrialState.COMPLETE else None, state=state, skip_if_finished=True)
    # The trial is safe in the storage; trackers get it as read back from there (never raises).
    log_trial(study, spec, storage_url, trial_number)
    return state


def failure_reason(exc: BaseException, *secrets_in: str) -> str:
    """One line: what went wrong, with no credentials in it."""
    if _is_out_of_memory(exc):
        return "out of memory"
    text = exc.one_line() if isinstance(exc, AutoMLError) else f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return mask_text(text, *secrets_in)[:500]


def _is_out_of_memory(exc: BaseException) -> bool:
    name = type(exc).__name__
    return name == "OutOfMemoryError" or isinstance(exc, MemoryError) or "CUDA out of memory" in str(exc)


def _set_attrs(storage: Any, trial_id: int, attrs: dict[str, Any]) -> None:
    for key, value in attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)
