"""Trials on Celery workers (``automl worker``) through a Redis broker.

The coordinator sends ``automl.run_trial(study_name, trial_number)`` to the study's queue and
learns what happened by reading back, for each trial in flight:

1. its claim and lease on the broker's Redis (:mod:`automl.worker.lease`), then
2. its state in the Optuna storage.

A finished trial is ``ENDED``. A RUNNING trial that a worker claimed but whose lease is gone is
``LOST`` ("worker lost: lease expired", or the error the worker left on the claim). A trial not
claimed yet is waiting in the queue and is not lost, however long it waits. Redis is read
before the storage because a worker ends the lease only after telling the storage: a trial
seen without a lease and then still RUNNING really was abandoned.

The broker may go away. While it is unreachable the coordinator keeps its trials in flight and
retries (up to ``AUTOML_BROKER_RETRY_S``, default 120 s, then one clear error). When it comes
back, or restarted unseen (its run id changed), queued messages may be lost: every trial in
flight that is still unclaimed one lease interval later is sent again. A worker that was
training meanwhile puts its claim back at its next lease renewal, so it is not sent twice; and
a duplicate that does arrive finds the claim and does nothing.

On a coordinator restart :meth:`CeleryBackend.adopt` keeps the trials whose lease is live;
those still in the queue, or abandoned, are failed and run again by the coordinator (a late
message for a failed trial is skipped by the worker). ``cancel_all`` sends nothing to the
workers: the coordinator fails the trials, and a worker stops a trial at its next epoch, when
its report to a finished trial is refused.

>>> backend = CeleryBackend("postgresql://db/automl", "redis://broker:6379/0", "automl", 8)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import redis
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from automl.backends.base import Backend, EventKind, TrialEvent, TrialJob
from automl.errors import AutoMLError
from automl.search.storage import make_storage, mask_text, mask_url
from automl.search.study import trial_id

log = logging.getLogger(__name__)

LEASE_EXPIRED = "worker lost: lease expired"
POLL_S = 0.25
BROKER_RETRY_ENV = "AUTOML_BROKER_RETRY_S"
_BROKER_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, ConnectionError, OSError)


class CeleryBackend(Backend):
    """Sends trials to ``queue`` on ``broker_url``; ``parallelism`` of them in flight."""

    def __init__(self, storage_url: str, broker_url: str, queue: str, parallelism: int) -> None:
        from automl.worker.celery_app import check_broker_url

        self._storage_url = storage_url
        self._broker_url = check_broker_url(broker_url)
        self._queue = queue
        self._parallelism = parallelism
        self._app: Any = None
        self._leases: Any = None
        self._storage: BaseStorage | None = None
        self._in_flight: dict[int, str] = {}  # trial number -> study name
        self._trial_ids: dict[tuple[str, int], int] = {}
        self._run_id: str | None = None  # the broker's; a change means it restarted
        self._down_since: float | None = None
        self._resend_at: dict[int, float] = {}  # trial number -> when to send it again if unclaimed

    @property
    def capacity(self) -> int:
        return self._parallelism

    def start(self) -> None:
        from automl.worker.celery_app import create_app
        from automl.worker.lease import LeaseStore

        self._storage = make_storage(self._storage_url)
        self._app = create_app(self._broker_url, [self._queue])
        self._leases = LeaseStore.from_url(self._broker_url)
        try:
            self._leases.ping()
        except Exception as exc:  # noqa: BLE001 - redis raises many kinds; all mean "cannot reach"
            raise AutoMLError(
                f"cannot reach the broker {mask_url(self._broker_url)}: {mask_text(str(exc), self._broker_url)}"
            ) from None
        self._run_id = self._leases.run_id()
        log.info("sending trials to queue %r on %s", self._queue, mask_url(self._broker_url))

    def submit(self, job: TrialJob) -> None:
        self._in_flight[job.trial_number] = job.study_name
        self._send(job.study_name, job.trial_number)

    def _send(self, study_name: str, number: int) -> None:
        from automl.worker.celery_app import TASK_NAME

        try:
            self._app.send_task(TASK_NAME, args=[study_name, number], queue=self._queue)
        except Exception as exc:  # noqa: BLE001 - kombu wraps connection errors in several kinds
            log.warning("could not send trial %d (%s); will send it again", number, type(exc).__name__)
            self._resend_at[number] = time.monotonic()  # never sent: no claim can exist, send soon

    def wait(self, timeout_s: float) -> list[TrialEvent]:
        deadline = time.monotonic() + timeout_s
        while True:
            events = self._poll()
            if events or not self._in_flight or time.monotonic() >= deadline:
                return events
            time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))

    def adopt(self, study_name: str, running: list[int]) -> list[int]:
        from automl.worker.lease import LeaseState

        if not running:
            return []
        status = self._leases.status(study_name, running)
        alive = [n for n in running if status[n].state == LeaseState.LIVE]
        for number in alive:
            self._in_flight[number] = study_name
            log.info("trial %d: its worker %s still holds the lease", number, status[number].owner)
        return alive

    def cancel_all(self) -> list[int]:
        numbers = list(self._in_flight)
        self._in_flight.clear()
        self._resend_at.clear()
        return numbers

    def close(self) -> None:
        if self._leases is not None:
            self._leases.close()
            self._leases = None
        if self._app is not None:
            self._app.close()
            self._app = None
        self._in_flight.clear()

    # -- reading back -----------------------------------------------------------------------

    def _poll(self) -> list[TrialEvent]:
        try:
            events = self._read_back()
        except _BROKER_DOWN as exc:
            self._broker_down(exc)
            return []
        if self._down_since is not None:
            log.warning("the broker %s is back", mask_url(self._broker_url))
            self._down_since = None
            self._schedule_resend()
        return events

    def _broker_down(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            log.warning("the broker %s is unreachable (%s); retrying", mask_url(self._broker_url), type(exc).__name__)
        elif now - self._down_since > float(os.environ.get(BROKER_RETRY_ENV, "120")):
            raise AutoMLError(
                f"lost the broker {mask_url(self._broker_url)} and it did not come back within "
                f"{os.environ.get(BROKER_RETRY_ENV, '120')} s: {type(exc).__name__}: {mask_text(str(exc), self._broker_url)}",
                hint="finished trials are safe in the storage; run the same command again once it is back",
            )

    def _schedule_resend(self) -> None:
        """Queued messages may be lost: check every trial in flight again one lease from now.

        Counted from when the broker is back, so that a worker still training has renewed its
        lease, and put its claim back, before anything is sent again.
        """
        from automl.worker.lease import DEFAULT_LEASE_S, LEASE_ENV

        grace = float(os.environ.get(LEASE_ENV, DEFAULT_LEASE_S))
        due = time.monotonic() + grace
        for number in self._in_flight:
            self._resend_at.setdefault(number, due)

    def _read_back(self) -> list[TrialEvent]:
        from automl.worker.lease import LeaseState

        run_id = self._leases.run_id()
        if run_id != self._run_id:
            log.warning("the broker %s restarted; trials whose messages were lost will be sent again", mask_url(self._broker_url))
            self._run_id = run_id
            self._schedule_resend()
        by_study: dict[str, list[int]] = {}
        for number, study in self._in_flight.items():
            by_study.setdefault(study, []).append(number)
        events: list[TrialEvent] = []
        for study, numbers in by_study.items():
            leases = self._leases.status(study, numbers)  # before the storage; see the docstring
            for number in numbers:
                state = self._state(study, number)
                if state.is_finished():
                    events.append(TrialEvent(EventKind.ENDED, number))
                elif state == TrialState.RUNNING and leases[number].state == LeaseState.LAPSED:
                    reason = leases[number].error or LEASE_EXPIRED
                    log.warning("trial %d lost (worker %s): %s", number, leases[number].owner, reason)
                    events.append(TrialEvent(EventKind.LOST, number, reason))
                elif leases[number].state == LeaseState.UNCLAIMED and time.monotonic() >= self._resend_at.get(number, float("inf")):
                    del self._resend_at[number]
                    log.warning("trial %d was never picked up since the broker came back; sending it again", number)
                    self._send(study, number)
                elif leases[number].state != LeaseState.UNCLAIMED:
                    self._resend_at.pop(number, None)
        for event in events:
            self._in_flight.pop(event.trial_number, None)
            self._resend_at.pop(event.trial_number, None)
        return events

    def _state(self, study: str, number: int) -> TrialState:
        assert self._storage is not None
        key = (study, number)
        if key not in self._trial_ids:
            self._trial_ids[key] = trial_id(self._storage, study, number)
        return self._storage.get_trial(self._trial_ids[key]).state
