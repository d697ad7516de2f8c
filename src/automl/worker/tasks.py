"""The one Celery task: ``automl.run_trial(study_name, trial_number)``.

The message carries JSON-safe ids only. The storage URL and the broker are the worker's own
(``automl worker`` flags or ``AUTOML_STORAGE`` / ``AUTOML_BROKER``), never the message's, so a
message cannot point a worker at another database. Several studies can share the workers: the
study name picks the study in the worker's storage.

What one delivery does:

1. Skip unless the trial is RUNNING in the storage (finished, or failed by the coordinator).
2. Claim it (``SET NX``, :mod:`automl.worker.lease`); skip when someone else has it, so a
   message delivered twice trains once.
3. Train it with :func:`automl.worker.runner.execute_trial` while a thread renews the lease;
   the runner reports per epoch and tells the storage; then the lease is released.

Bad config versus bad node: whatever the trial itself raises (a user error, CUDA out of memory)
becomes a FAIL with its reason inside the runner and does not count against the worker. What
fails around it (storage unreachable, claim or lease errors) is an *infrastructure* failure:
before training the claim is dropped and the message requeued for another worker; during
training the error is written to the claim and the coordinator fails and retries the trial.
After ``max_infra_failures`` of those in a row the worker process stops taking work.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from celery import Celery, Task
from celery.exceptions import Reject, WorkerShutdown

from automl.worker.lease import LeaseRenewer, LeaseStore

log = logging.getLogger(__name__)

EXIT_UNHEALTHY = 3  # the exit code of a worker process that stopped itself; not restarted


@dataclass(frozen=True)
class WorkerSettings:
    storage_url: str
    broker_url: str
    slot: str  # "gpu:0", "cpu:1": recorded on every trial this process runs
    lease_s: float
    max_infra_failures: int


_settings: WorkerSettings | None = None
_leases: LeaseStore | None = None
_infra_failures = 0


def configure(settings: WorkerSettings) -> None:
    """Called once by the worker process before it consumes."""
    global _settings, _leases
    _settings = settings
    _leases = LeaseStore.from_url(settings.broker_url)


def register(app: Celery) -> None:
    app.task(name="automl.run_trial", bind=True, acks_late=True, reject_on_worker_lost=True)(run_trial)


def run_trial(task: Task, study_name: str, trial_number: int) -> str:
    """Train one trial once; return what happened (for the worker's log)."""
    if _settings is None or _leases is None:
        raise RuntimeError("automl.worker.tasks.configure() was not called in this worker process")
    if not isinstance(study_name, str) or not isinstance(trial_number, int):
        return f"ignored: malformed arguments {study_name!r}, {trial_number!r}"
    owner = f"{socket.gethostname()}:{os.getpid()}:{_settings.slot}"
    try:
        state = _trial_state(_settings.storage_url, study_name, trial_number)
        if state != "RUNNING":
            log.info("trial %d of %s is %s; not running it", trial_number, study_name, state)
            return f"skipped: {state}"
        if not _leases.claim(study_name, trial_number, owner, _settings.lease_s):
            log.info("trial %d of %s is claimed by another delivery; not running it", trial_number, study_name)
            return "skipped: already claimed"
    except Exception as exc:  # noqa: BLE001 - storage or Redis down: this node cannot work
        reason = f"{type(exc).__name__}: {exc}"
        _safe(_leases.unclaim, study_name, trial_number)
        _infra_failure(reason, requeue=True)  # raises: requeued, or this worker stops
        return "requeued"
    return _train(study_name, trial_number, owner)


def _train(study_name: str, number: int, owner: str) -> str:
    from automl.worker.runner import execute_trial

    assert _settings is not None and _leases is not None
    global _infra_failures
    renewer = LeaseRenewer(_leases, study_name, number, owner, _settings.lease_s)
    try:
        with renewer:
            state = execute_trial(_settings.storage_url, study_name, number, slot=_settings.slot)
    except Exception as exc:  # noqa: BLE001 - the runner catches the trial's own errors
        if _trial_state(_settings.storage_url, study_name, number, default="RUNNING") != "RUNNING":
            # Failed by the coordinator meanwhile (Ctrl-C, or it gave up on our lease): the
            # runner's next write to the finished trial raised. Not this node's fault.
            _safe(_leases.release, study_name, number, owner)
            log.warning("trial %d of %s was finished elsewhere while it ran; stopped", number, study_name)
            return "stopped: finished elsewhere"
        reason = f"worker failed: {type(exc).__name__}: {exc}"
        _safe(_leases.release, study_name, number, owner, reason[:500])
        _infra_failure(reason, requeue=False)
        return "failed: infrastructure"
    _safe(_leases.release, study_name, number, owner)
    if renewer.failed:
        _infra_failure(renewer.failed, requeue=False)
    else:
        _infra_failures = 0
    log.info("trial %d of %s ended %s on %s", number, study_name, state.name, _settings.slot)
    return state.name


def _trial_state(storage_url: str, study_name: str, number: int, default: str | None = None) -> str:
    """The trial's state name, read from the storage (not through a cached study)."""
    from automl.search.storage import make_storage
    from automl.search.study import trial_id

    try:
        storage = make_storage(storage_url)
        return str(storage.get_trial(trial_id(storage, study_name, number)).state.name)
    except KeyError:
        return "MISSING"  # a study or trial this storage does not hold: nothing to run
    except Exception:
        if default is not None:
            return default
        raise


def _infra_failure(reason: str, *, requeue: bool) -> None:
    """Count one infrastructure failure in a row; stop this worker process at the limit."""
    assert _settings is not None
    global _infra_failures
    _infra_failures += 1
    log.error("infrastructure failure %d in a row on %s: %s", _infra_failures, _settings.slot, reason)
    if _infra_failures >= _settings.max_infra_failures:
        log.critical(
            "%d trials in a row failed for infrastructure reasons (last: %s); this worker (%s) "
            "stops taking work", _infra_failures, reason, _settings.slot,
        )  # fmt: skip
        # Unacknowledged, the message goes back to the queue for a healthy worker.
        raise WorkerShutdown(EXIT_UNHEALTHY)
    if requeue:
        time.sleep(min(2.0**_infra_failures, 30.0))  # do not spin on a dead storage
        raise Reject(reason, requeue=True)


def _safe(call: Any, *args: Any) -> None:
    try:
        call(*args)
    except Exception as exc:  # noqa: BLE001 - best effort; the lease lapses on its own
        log.warning("could not update the claim of a trial: %s", exc)
