"""The one Celery task: ``automl.run_trial(study_name, trial_number, study_uid)``.

The message carries JSON-safe ids only. The storage URL and the broker are the worker's own
(``automl worker`` flags or ``AUTOML_STORAGE`` / ``AUTOML_BROKER``), never the message's, so a
message cannot point a worker at another database. Several studies can share the workers: the
study name picks the study in the worker's storage, and the study's uid (a random id stored on
the study) proves it is the study the coordinator meant.

What one delivery does:

1. Find the study in this worker's storage. If it is not there, or a same-named study with
   another uid is (the worker was started with another ``--storage``, or the study was deleted
   and created again), say so on the broker for the coordinator, which stops with that line,
   and drop the message.
2. Skip unless the trial is RUNNING (finished, failed by the coordinator, or withdrawn at the
   study's timeout).
3. Claim it (``SET NX``, :mod:`automl.worker.lease`) under an owner name unique to this
   delivery; skip when someone else has it, so a message delivered twice trains once.
4. Train it with :func:`automl.runner.trial.execute_trial` while a thread renews the lease;
   the runner reports per epoch and tells the storage; then this delivery releases its lease
   and announces the end on the broker, so that the coordinator need not poll for it.
   Every claim operation checks the owner, so a delivery only ever releases what it won.

Outages versus bad nodes: the storage and the broker are shared by the whole fleet. While
either is unreachable a worker backs off, says so in its log, and carries on when it is back;
that is never counted against the worker (the storage is retried for as long as it takes, see
:data:`WORKER_STORAGE_RETRY_S`). Whatever the trial itself raises (a user error, CUDA out of
memory) becomes a FAIL with its reason inside the runner. What fails around the trial while
both dependencies answer is this node's fault (an *infrastructure* failure): before training
the claim is dropped and the message requeued for another worker; during training the error is
written to the claim and the coordinator fails and retries the trial. After
``max_infra_failures`` of those in a row the worker process stops taking work.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from celery import Celery, Task
from celery.exceptions import Reject, WorkerShutdown

from automl.masking import mask_text, mask_url
from automl.worker.lease import LeaseRenewer, LeaseStore, new_owner

if TYPE_CHECKING:
    from automl.runner.trial import OpenedTrial

log = logging.getLogger(__name__)

EXIT_UNHEALTHY = 3  # the exit code of a worker process that stopped itself; not restarted
# A worker waits out a storage outage for this long inside each storage call, whatever
# AUTOML_STORAGE_RETRY_S says (that is for automl run and the other commands a person waits on).
WORKER_STORAGE_RETRY_S = 7 * 24 * 3600.0
_OUTAGE_LOG_EVERY_S = 60.0


@dataclass(frozen=True)
class WorkerSettings:
    storage_url: str
    broker_url: str
    slot: str  # "gpu:0", "cpu:1": recorded on every trial this process runs
    lease_s: float
    max_infra_failures: int


class _Skip(Exception):
    """This delivery has nothing to do; the message is acknowledged and dropped."""


_settings: WorkerSettings | None = None
_leases: LeaseStore | None = None
_infra_failures = 0


def configure(settings: WorkerSettings) -> None:
    """Called once by the worker process before it consumes."""
    from automl.search import retry

    global _settings, _leases
    _settings = settings
    _leases = LeaseStore.from_url(settings.broker_url)
    retry.set_budget(WORKER_STORAGE_RETRY_S)


def register(app: Celery) -> None:
    app.task(name="automl.run_trial", bind=True, acks_late=True, reject_on_worker_lost=True)(deliver_trial)


def deliver_trial(task: Task, study_name: str, trial_number: int, study_uid: str | None = None, spec_digest: str | None = None) -> str:
    """Train one trial once; return what happened (for the worker's log)."""
    if _settings is None or _leases is None:
        raise RuntimeError("automl.worker.tasks.configure() was not called in this worker process")
    if not (isinstance(study_name, str) and _is_number(trial_number) and isinstance(study_uid, str) and study_uid):
        return f"ignored: malformed arguments {study_name!r}, {trial_number!r}, {study_uid!r}"
    owner = new_owner(_settings.slot)
    while True:
        try:
            opened = _take(study_name, trial_number, study_uid, owner, spec_digest if isinstance(spec_digest, str) else None)
            break
        except _Skip as skip:
            log.info("trial %d of %s: %s; not running it", trial_number, study_name, skip)
            return f"skipped: {skip}"
        except Exception as exc:  # noqa: BLE001 - storage or Redis trouble before training
            if _wait_out_outage(study_name):
                continue  # a shared dependency was down and is back: try this delivery again
            reason = mask_text(f"{type(exc).__name__}: {exc}", _settings.storage_url, _settings.broker_url)
            _safe(_leases.unclaim, study_uid, trial_number, owner)  # only if this delivery won it
            _infra_failure(reason, requeue=True)  # raises: requeued, or this worker stops
            return "requeued"
    return _train(opened, study_uid, owner)


def _take(study_name: str, number: int, study_uid: str, owner: str, digest: str | None) -> OpenedTrial:
    """Check the study and the trial, then claim it; raise _Skip when there is nothing to do."""
    from automl.runner.trial import open_trial

    assert _settings is not None and _leases is not None
    try:
        opened = open_trial(_settings.storage_url, study_name, number, study_uid, digest)
    except KeyError:
        if _study_exists(study_name):
            raise _Skip("no such trial") from None
        _report_mismatch(study_uid, f"has no study {study_name!r}")
        raise _Skip("no such study in this worker's storage") from None
    if opened.study_uid != study_uid:
        _report_mismatch(study_uid, f"holds another study named {study_name!r} (not the coordinator's)")
        raise _Skip("another study of that name in this worker's storage")
    if opened.frozen.state.name != "RUNNING":
        raise _Skip(f"it is {opened.frozen.state.name}")
    # A claim that fails may still be ours: an earlier try of this delivery won it, then lost the reply.
    won = _leases.claim(study_uid, number, owner, _settings.lease_s)
    if not won and _leases.status(study_uid, [number])[number].owner != owner:
        raise _Skip("claimed by another delivery")
    return opened


def _study_exists(study_name: str) -> bool:
    from automl.search.storage import make_storage

    assert _settings is not None
    try:
        make_storage(_settings.storage_url).get_study_id_from_name(study_name)
    except KeyError:
        return False
    return True


def _report_mismatch(study_uid: str, what: str) -> None:
    assert _settings is not None and _leases is not None
    text = (
        f"worker {socket.gethostname()} ({_settings.slot}) cannot run this study: its storage "
        f"{mask_url(_settings.storage_url)} {what}; start automl worker with the coordinator's --storage"
    )
    log.error("%s", text)
    _safe(_leases.report_problem, study_uid, text)


def _train(opened: OpenedTrial, study_uid: str, owner: str) -> str:
    from automl.runner.trial import ClaimLost, execute_trial

    assert _settings is not None and _leases is not None
    study_name, number = opened.study.study_name, opened.frozen.number
    global _infra_failures
    renewer = LeaseRenewer(_leases, study_uid, number, owner, _settings.lease_s)
    log.info("training trial %d of %s on %s", number, study_name, _settings.slot)
    try:
        with renewer:
            state = execute_trial(
                _settings.storage_url, study_name, number, slot=_settings.slot,
                should_stop=lambda: renewer.lost, opened=opened,
            )  # fmt: skip
    except ClaimLost:
        log.warning("trial %d of %s: stopped; another delivery owns it now", number, study_name)
        return "stopped: claim lost"
    except Exception as exc:  # noqa: BLE001 - the runner catches the trial's own errors
        if _trial_state(study_name, number) not in ("RUNNING", "UNKNOWN"):
            # Failed by the coordinator meanwhile (Ctrl-C, the timeout, or it gave up on our
            # lease): the runner's next write to the finished trial raised. Not this node's fault.
            _safe(_leases.release, study_uid, number, owner, _settings.lease_s)
            log.warning("trial %d of %s was finished elsewhere while it ran; stopped", number, study_name)
            return "stopped: finished elsewhere"
        reason = mask_text(f"worker failed: {type(exc).__name__}: {exc}", _settings.storage_url, _settings.broker_url)
        _safe(_leases.release, study_uid, number, owner, _settings.lease_s, reason[:500])
        _safe(_leases.announce, study_uid, number)
        if not _wait_out_outage(study_name):
            _infra_failure(reason, requeue=False)
        return "failed: infrastructure"
    _safe(_leases.release, study_uid, number, owner, _settings.lease_s)
    _safe(_leases.announce, study_uid, number)  # the coordinator learns of it now, not at its next poll
    _infra_failures = 0
    log.info("trial %d of %s ended %s on %s", number, study_name, state.name, _settings.slot)
    return state.name


def _trial_state(study_name: str, number: int) -> str:
    """The trial's state name, read from the storage; UNKNOWN when it cannot be read."""
    from automl.search.storage import make_storage
    from automl.search.study import trial_id

    assert _settings is not None
    try:
        storage = make_storage(_settings.storage_url)
        return str(storage.get_trial(trial_id(storage, study_name, number)).state.name)
    except Exception:  # noqa: BLE001 - only a hint for the caller
        return "UNKNOWN"


def _wait_out_outage(study_name: str, sleep: Any = time.sleep) -> bool:
    """If the storage or the broker does not answer, wait until both do; True if one was down.

    A shared dependency that is down is not this node's fault: nothing is counted against it.
    """
    started = time.monotonic()
    logged_at: float | None = None
    delay = 1.0
    while True:
        down = _unreachable(study_name)
        if down is None:
            if logged_at is not None:
                log.warning("%s is back after %.0f s; carrying on", _DOWN_WHAT, time.monotonic() - started)
            return logged_at is not None
        if logged_at is None or time.monotonic() - logged_at >= _OUTAGE_LOG_EVERY_S:
            log.warning("%s: %s; waiting for it (not this worker's fault)", _DOWN_WHAT, down)
            logged_at = time.monotonic()
        sleep(delay)
        delay = min(delay * 2, 15.0)


_DOWN_WHAT = "the storage or the broker is unreachable"


def _unreachable(study_name: str) -> str | None:
    """Why the broker or the storage does not answer now; None when both do."""
    from automl.search.storage import make_storage

    assert _settings is not None and _leases is not None
    try:
        _leases.ping()
    except Exception as exc:  # noqa: BLE001 - every error means "cannot reach"
        return f"broker {mask_url(_settings.broker_url)}: {type(exc).__name__}"
    try:
        storage = make_storage(_settings.storage_url)
        storage.inner.get_all_studies()  # type: ignore[attr-defined]  # one try, no retrying
    except Exception as exc:  # noqa: BLE001 - every error means "cannot reach"
        return f"storage {mask_url(_settings.storage_url)}: {type(exc).__name__}"
    return None


def _infra_failure(reason: str, *, requeue: bool) -> None:
    """Count one infrastructure failure in a row; stop this worker process at the limit."""
    assert _settings is not None
    global _infra_failures
    _infra_failures += 1
    log.error("infrastructure failure %d in a row on %s: %s", _infra_failures, _settings.slot, reason)
    if _infra_failures >= _settings.max_infra_failures:
        log.critical(
            "%d trials in a row failed for infrastructure reasons (last: %s) while the storage and "
            "the broker answered; this worker (%s) stops taking work", _infra_failures, reason, _settings.slot,
        )  # fmt: skip
        # Unacknowledged, the message goes back to the queue for a healthy worker.
        raise WorkerShutdown(EXIT_UNHEALTHY)
    if requeue:
        time.sleep(min(2.0**_infra_failures, 30.0))  # do not spin
        raise Reject(reason, requeue=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _safe(call: Any, *args: Any) -> None:
    try:
        call(*args)
    except Exception as exc:  # noqa: BLE001 - best effort; the lease lapses on its own
        log.warning("could not update the claim of a trial: %s", exc)
