"""What the Celery task ``automl.run_trial(study_name, trial_number, study_uid)`` does.

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
4. Train it with :func:`automl.runner.execute.execute_trial` while a thread renews the lease;
   the runner reports per epoch and tells the storage; then this delivery releases its lease
   and announces the end on the broker (:mod:`automl.worker.notices`), so that the
   coordinator need not poll for it.
   Every claim operation checks the owner, so a delivery only ever releases what it won.

Outages versus bad nodes: the storage and the broker are shared by the whole fleet. While
either is unreachable a worker backs off, says so in its log, and carries on when it is back;
that is never counted against the worker (the storage is retried for as long as it takes,
:attr:`WorkerSettings.storage_retry_s`). Whatever the trial itself raises (a user error, CUDA out of
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from celery.exceptions import Reject, WorkerShutdown

from automl.masking import mask_text, mask_url
from automl.settings import Settings
from automl.worker.lease import LeaseStore, new_owner
from automl.worker.message import is_trial_number
from automl.worker.notices import Notices
from automl.worker.renewer import LeaseRenewer

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from automl.runner.execute import OpenedTrial

log = logging.getLogger(__name__)

EXIT_UNHEALTHY = 3  # the exit code of a worker process that stopped itself; not restarted
OUTAGE_LOG_EVERY_S = 60.0
DOWN_WHAT = "the storage or the broker is unreachable"


@dataclass(frozen=True)
class WorkerSettings:
    storage_url: str
    broker_url: str
    slot: str  # "gpu:0", "cpu:1": recorded on every trial this process runs
    lease_s: float
    max_infra_failures: int
    # How long each storage call waits out an outage (Settings.worker_storage_retry_s), whatever
    # AUTOML_STORAGE_RETRY_S says: that is for automl run and the other commands a person waits on.
    storage_retry_s: float = Settings.worker_storage_retry_s


class Skip(Exception):
    """This delivery has nothing to do; the message is acknowledged and dropped."""


class TrialWorker:
    """This worker process' side of the trial task: its settings, its connections to the
    broker, and its count of infrastructure failures in a row."""

    def __init__(
        self, settings: WorkerSettings, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.settings = settings
        self.leases = LeaseStore.from_url(settings.broker_url)
        self.notices = Notices(self.leases.client)
        self.infra_failures = 0
        self._sleep = sleep
        from automl.runner.host import TrialHost

        # this process' caches between trials
        self.host = TrialHost(storage_retry_s=settings.storage_retry_s)

    def deliver(self, study_name: Any, trial_number: Any, study_uid: Any, spec_digest: Any) -> str:
        """Train one trial once; return what happened (for the worker's log)."""
        if not (
            isinstance(study_name, str)
            and is_trial_number(trial_number)
            and isinstance(study_uid, str)
            and study_uid
        ):
            return f"ignored: malformed arguments {study_name!r}, {trial_number!r}, {study_uid!r}"
        owner = new_owner(self.settings.slot)
        while True:
            try:
                opened = self._take(
                    study_name,
                    trial_number,
                    study_uid,
                    owner,
                    spec_digest if isinstance(spec_digest, str) else None,
                )
                break
            except Skip as skip:
                log.info("trial %d of %s: %s; not running it", trial_number, study_name, skip)
                return f"skipped: {skip}"
            except Exception as exc:  # noqa: BLE001 - storage or Redis trouble before training
                if self.wait_out_outage():
                    continue  # a shared dependency was down and is back: try this delivery again
                reason = self._masked(f"{type(exc).__name__}: {exc}")
                # only if this delivery won it
                _safe(self.leases.unclaim, study_uid, trial_number, owner)
                self.infra_failure(reason, requeue=True)  # raises: requeued, or this worker stops
                return "requeued"
        return self._train(opened, study_uid, owner)

    def _take(
        self, study_name: str, number: int, study_uid: str, owner: str, digest: str | None
    ) -> OpenedTrial:
        """Check the study and the trial, then claim it; raise Skip when there is nothing to do."""
        from automl.runner.execute import open_trial

        try:
            opened = open_trial(
                self.host, self.settings.storage_url, study_name, number, study_uid, digest
            )
        except KeyError:
            if self._study_exists(study_name):
                raise Skip("no such trial") from None
            self._report_mismatch(study_uid, f"has no study {study_name!r}")
            raise Skip("no such study in this worker's storage") from None
        if opened.study_uid != study_uid:
            self._report_mismatch(
                study_uid, f"holds another study named {study_name!r} (not the coordinator's)"
            )
            raise Skip("another study of that name in this worker's storage")
        if opened.frozen.state.name != "RUNNING":
            raise Skip(f"it is {opened.frozen.state.name}")
        # A claim that fails may still be ours: an earlier try of this delivery won it, then lost
        # the reply.
        won = self.leases.claim(study_uid, number, owner, self.settings.lease_s)
        if not won and self.leases.status(study_uid, [number])[number].owner != owner:
            raise Skip("claimed by another delivery")
        return opened

    def _storage(self) -> BaseStorage:
        """This worker's storage, retrying for its window
        (:attr:`WorkerSettings.storage_retry_s`)."""
        from automl.search.storage import make_storage

        return make_storage(self.settings.storage_url, retry_s=self.settings.storage_retry_s)

    def _study_exists(self, study_name: str) -> bool:
        try:
            self._storage().get_study_id_from_name(study_name)
        except KeyError:
            return False
        return True

    def _report_mismatch(self, study_uid: str, what: str) -> None:
        text = (
            f"worker {socket.gethostname()} ({self.settings.slot}) cannot run this "
            "study: its storage "
            f"{mask_url(self.settings.storage_url)} {what}; start automl worker with the "
            "coordinator's --storage"
        )
        log.error("%s", text)
        _safe(self.notices.report_problem, study_uid, text)

    def _train(self, opened: OpenedTrial, study_uid: str, owner: str) -> str:
        from automl.runner.execute import execute_trial
        from automl.runner.reporter import ClaimLost

        settings = self.settings
        study_name, number = opened.study.study_name, opened.frozen.number
        renewer = LeaseRenewer(self.leases, study_uid, number, owner, settings.lease_s)
        log.info("training trial %d of %s on %s", number, study_name, settings.slot)
        try:
            with renewer:
                state = execute_trial(
                    self.host, settings.storage_url, study_name, number, slot=settings.slot,
                    should_stop=lambda: renewer.lost, opened=opened,
                )  # fmt: skip
        except ClaimLost:
            log.warning("trial %d of %s: stopped; another delivery owns it now", number, study_name)
            return "stopped: claim lost"
        except Exception as exc:  # noqa: BLE001 - the runner catches the trial's own errors
            if self._trial_state(study_name, number) not in ("RUNNING", "UNKNOWN"):
                # Failed by the coordinator meanwhile (Ctrl-C, the timeout, or it gave up on our
                # lease): the runner's next write to the finished trial raised. Not this node's
                # fault.
                _safe(self.leases.release, study_uid, number, owner, settings.lease_s)
                log.warning(
                    "trial %d of %s was finished elsewhere while it ran; stopped",
                    number,
                    study_name,
                )
                return "stopped: finished elsewhere"
            reason = self._masked(f"worker failed: {type(exc).__name__}: {exc}")
            _safe(self.leases.release, study_uid, number, owner, settings.lease_s, reason[:500])
            _safe(self.notices.announce, study_uid, number)
            if not self.wait_out_outage():
                self.infra_failure(reason, requeue=False)
            return "failed: infrastructure"
        _safe(self.leases.release, study_uid, number, owner, settings.lease_s)
        # the coordinator learns of it now, not at its next poll
        _safe(self.notices.announce, study_uid, number)
        self.infra_failures = 0
        log.info("trial %d of %s ended %s on %s", number, study_name, state.name, settings.slot)
        return state.name

    def _trial_state(self, study_name: str, number: int) -> str:
        """The trial's state name, read from the storage; UNKNOWN when it cannot be read."""
        from automl.search.study import trial_id

        try:
            storage = self._storage()
            return str(storage.get_trial(trial_id(storage, study_name, number)).state.name)
        except Exception:  # noqa: BLE001 - only a hint for the caller
            return "UNKNOWN"

    def wait_out_outage(self) -> bool:
        """If the storage or the broker does not answer, wait until both do; True if one was down.

        A shared dependency that is down is not this node's fault: nothing is counted against it.
        """
        started = time.monotonic()
        logged_at: float | None = None
        delay = 1.0
        while True:
            down = self._unreachable()
            if down is None:
                if logged_at is not None:
                    log.warning(
                        "%s is back after %.0f s; carrying on",
                        DOWN_WHAT,
                        time.monotonic() - started,
                    )
                return logged_at is not None
            if logged_at is None or time.monotonic() - logged_at >= OUTAGE_LOG_EVERY_S:
                log.warning("%s: %s; waiting for it (not this worker's fault)", DOWN_WHAT, down)
                logged_at = time.monotonic()
            self._sleep(delay)
            delay = min(delay * 2, 15.0)

    def _unreachable(self) -> str | None:
        """Why the broker or the storage does not answer now; None when both do."""
        try:
            self.leases.ping()
        except Exception as exc:  # noqa: BLE001 - every error means "cannot reach"
            return f"broker {mask_url(self.settings.broker_url)}: {type(exc).__name__}"
        try:
            self._storage().inner.get_all_studies()  # type: ignore[attr-defined]  # one try, no retrying
        except Exception as exc:  # noqa: BLE001 - every error means "cannot reach"
            return f"storage {mask_url(self.settings.storage_url)}: {type(exc).__name__}"
        return None

    def infra_failure(self, reason: str, *, requeue: bool) -> None:
        """Count one infrastructure failure in a row; stop this worker process at the limit."""
        slot = self.settings.slot
        self.infra_failures += 1
        log.error("infrastructure failure %d in a row on %s: %s", self.infra_failures, slot, reason)
        if self.infra_failures >= self.settings.max_infra_failures:
            log.critical(
                "%d trials in a row failed for infrastructure reasons (last: %s) while "
                "the storage and the broker answered; this worker (%s) stops taking work",
                self.infra_failures,
                reason,
                slot,
            )
            # Unacknowledged, the message goes back to the queue for a healthy worker.
            raise WorkerShutdown(EXIT_UNHEALTHY)
        if requeue:
            self._sleep(min(2.0**self.infra_failures, 30.0))  # do not spin
            raise Reject(reason, requeue=True)

    def _masked(self, text: str) -> str:
        return mask_text(text, self.settings.storage_url, self.settings.broker_url)


def _safe(call: Any, *args: Any) -> None:
    try:
        call(*args)
    except Exception as exc:  # noqa: BLE001 - best effort; the lease lapses on its own
        log.warning("could not update the claim of a trial: %s", exc)
