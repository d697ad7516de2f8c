"""Trials on Celery workers (``automl worker``) through a Redis broker.

The coordinator sends ``automl.run_trial(study_name, trial_number, study_uid, spec_digest)`` to the study's
queue. A worker that ended a trial (told the storage) pushes its number to the study's events
list on the broker; the coordinator blocks on that list, so it learns of an end within a round
trip, and checks the trial's state in the storage. The push is a hint: the storage is the
record. Every :data:`FALLBACK_POLL_S` seconds (sooner with short leases) the coordinator also
reads back, for each trial in flight:

1. whether a worker said it cannot run the study at all (its storage lacks the study): one
   clear error, naming the worker;
2. the trial's claim and lease on the broker's Redis (:mod:`automl.worker.lease`), then
3. its state in the Optuna storage.

A finished trial is ``ENDED``. A RUNNING trial that a worker claimed but whose lease is gone is
``LOST`` ("worker lost: lease expired", or the error the worker left on the claim). Redis is
read before the storage because a worker ends the lease only after telling the storage: a
trial seen without a lease and then still RUNNING really was abandoned.

A trial nobody claimed is waiting in the queue, or its message is gone: the broker restarted
without it, or a worker died after taking it but before claiming it (the broker would hand it
out again only after its 7-day visibility timeout). One lease interval after it was sent, if
its message is not in the queue and nobody claimed it, the trial is sent again. A duplicate
that does arrive finds the claim and does nothing.

The broker may go away. While it is unreachable the coordinator keeps its trials in flight and
retries (up to ``AUTOML_BROKER_RETRY_S``, default 600 s, then one clear error). When it comes
back, or restarted unseen (its run id changed), workers need time to renew leases that lapsed
meanwhile, and to put back claims a restart lost: every trial in flight gets one more full
lease interval (its worker's, read from its claim) before a lapsed lease counts as lost or an
unclaimed trial is sent again.

On a coordinator restart :meth:`CeleryBackend.adopt` keeps the trials some worker claimed,
with the same grace; those never claimed are failed and run again by the coordinator (a late
message for a failed trial is skipped by the worker). ``cancel_all`` sends nothing to the
workers: the coordinator fails the trials, and a worker stops a trial at its next epoch, when
its report to a finished trial is refused.

>>> backend = CeleryBackend("postgresql://db/automl", "redis://broker:6379/0", "automl", 8)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import redis
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from automl.backends.base import Backend, EventKind, TrialEvent, TrialJob
from automl.errors import AutoMLError
from automl.masking import mask_text, mask_url
from automl.search.storage import make_storage
from automl.search.study import trial_id

log = logging.getLogger(__name__)

LEASE_EXPIRED = "worker lost: lease expired"
POLL_S = 0.25  # how long to pause while the broker is unreachable
FALLBACK_POLL_S = 2.0  # the full read-back, which catches whatever no worker announced
BROKER_RETRY_ENV = "AUTOML_BROKER_RETRY_S"
DEFAULT_BROKER_RETRY_S = 600.0
_BROKER_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, ConnectionError, OSError)
# kombu keeps a queue's messages in a Redis list named after the queue, and one list per
# priority step (``<queue>\x06\x16<step>``) for messages sent with a priority.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)


@dataclass
class _Flight:
    """A trial sent to the workers and not ended yet."""

    study_name: str
    study_uid: str
    spec_digest: str = ""
    task_id: str | None = None  # the Celery message's id; None until a send succeeded
    since: float = 0.0  # when it was sent, or when the broker came back: resends count from here
    lease_s: float | None = None  # the lease its worker keeps, from its claim
    grace_until: float = 0.0  # a lapsed lease is not taken for a lost worker before this


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
        self._in_flight: dict[int, _Flight] = {}
        self._trial_ids: dict[tuple[str, int], int] = {}
        self._uids: set[str] = set()  # studies whose stale worker problems were cleared
        self._longest_lease: float | None = None  # the longest lease seen on any claim
        self._run_id: str | None = None  # the broker's; a change means it restarted
        self._down_since: float | None = None
        self._next_poll = 0.0  # when the next full read-back is due

    @property
    def capacity(self) -> int:
        return self._parallelism

    @property
    def ask_ahead(self) -> int:
        # A free worker gets its next trial the moment the coordinator hears it is free, not
        # after an ask of the storage (tens of ms on PostgreSQL under load).
        return max(1, self._parallelism // 4)

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
        self._watch(job.study_uid)
        flight = _Flight(job.study_name, job.study_uid, job.spec_digest)
        self._in_flight[job.trial_number] = flight
        self._send(job.trial_number, flight)

    def _watch(self, study_uid: str) -> None:
        """A worker problem left from an earlier run of this study is not news: forget it."""
        if study_uid not in self._uids:
            self._leases.clear_problem(study_uid)
            self._uids.add(study_uid)

    def _send(self, number: int, flight: _Flight) -> None:
        from automl.worker.celery_app import TASK_NAME

        flight.since = time.monotonic()
        try:
            result = self._app.send_task(TASK_NAME, args=[flight.study_name, number, flight.study_uid, flight.spec_digest], queue=self._queue)
        except Exception as exc:  # noqa: BLE001 - kombu wraps connection errors in several kinds
            log.warning("could not send trial %d (%s); will send it again", number, type(exc).__name__)
            flight.task_id = None  # never sent: no claim can exist, so send it at the next check
            flight.since = 0.0
            return
        flight.task_id = str(result.id)

    def wait(self, timeout_s: float) -> list[TrialEvent]:
        deadline = time.monotonic() + timeout_s
        while True:
            now = time.monotonic()
            if now >= self._next_poll:
                events = self._poll()
                self._next_poll = time.monotonic() + self._poll_every()
            else:
                events = self._listen(min(deadline, self._next_poll) - now)
            if events or not self._in_flight or time.monotonic() >= deadline:
                return events

    def _poll_every(self) -> float:
        # A lost worker must show within about two leases: poll at least twice per lease.
        return min(FALLBACK_POLL_S, (self._longest_lease or FALLBACK_POLL_S * 2) / 2)

    def _listen(self, block_s: float) -> list[TrialEvent]:
        """Wait up to ``block_s`` for workers' announcements; the ended trials among them."""
        from automl.worker.lease import LeaseState

        try:
            announced = self._leases.take_events(list(self._by_study()), max(0.01, block_s))
            events: list[TrialEvent] = []
            for uid, number in announced:
                flight = self._in_flight.get(number)
                if flight is None or flight.study_uid != uid:
                    continue  # already collected, or not ours
                frozen = self._trial(flight.study_name, number)
                if frozen.state.is_finished():
                    events.append(TrialEvent(EventKind.ENDED, number, frozen=frozen))
                    continue
                lease = self._leases.status(uid, [number])[number]
                if lease.state == LeaseState.LAPSED and lease.error:  # the worker gave it up, and said why
                    log.warning("trial %d lost (worker %s): %s", number, lease.owner, lease.error)
                    events.append(TrialEvent(EventKind.LOST, number, lease.error))
        except _BROKER_DOWN as exc:
            self._broker_down(exc)
            self._next_poll = 0.0  # the full read-back notices when it is back
            time.sleep(POLL_S)
            return []
        for event in events:
            self._forget(event.trial_number)
        return events

    def adopt(self, study_name: str, study_uid: str, running: list[int]) -> list[int]:
        from automl.worker.lease import LeaseState

        if not running:
            return []
        self._watch(study_uid)
        status = self._leases.status(study_uid, running)
        now = time.monotonic()
        adopted = []
        for number in running:
            lease = status[number]
            if lease.state == LeaseState.UNCLAIMED:
                continue
            flight = _Flight(study_name, study_uid, since=now, lease_s=lease.lease_s)
            flight.grace_until = now + self._lease_of(flight)  # a lapsed lease may be one the broker lost
            self._in_flight[number] = flight
            adopted.append(number)
            log.info("trial %d: claimed by worker %s (lease %s); waiting for it", number, lease.owner, lease.state.value)
        return adopted

    def withdraw_queued(self) -> list[int]:
        from automl.worker.lease import LeaseState

        withdrawn: list[int] = []
        try:
            for uid, numbers in self._by_study().items():
                status = self._leases.status(uid, numbers)
                withdrawn += [n for n in numbers if status[n].state == LeaseState.UNCLAIMED]
        except _BROKER_DOWN as exc:
            log.warning("cannot withdraw queued trials: the broker is unreachable (%s)", type(exc).__name__)
            return []
        for number in withdrawn:
            self._forget(number)
        return withdrawn

    def cancel_all(self) -> list[int]:
        numbers = list(self._in_flight)
        self._in_flight.clear()
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
            self._grant_grace()
        return events

    def _broker_down(self, exc: BaseException) -> None:
        now = time.monotonic()
        limit = _broker_retry_s()
        if self._down_since is None:
            self._down_since = now
            log.warning("the broker %s is unreachable (%s); retrying", mask_url(self._broker_url), type(exc).__name__)
        elif now - self._down_since > limit:
            raise AutoMLError(
                f"lost the broker {mask_url(self._broker_url)} and it did not come back within "
                f"{limit:g} s: {type(exc).__name__}: {mask_text(str(exc), self._broker_url)}",
                hint="finished trials are safe in the storage; run the same command again once it is back",
            )

    def _grant_grace(self) -> None:
        """After an outage or a restart, give every trial in flight one more lease interval.

        Counted from when the broker is back, so that a worker still training has renewed its
        lease, and put its claim back, before its trial is called lost or sent again.
        """
        now = time.monotonic()
        for flight in self._in_flight.values():
            flight.grace_until = now + self._lease_of(flight)
            if flight.task_id:  # a trial never sent keeps its due time: it goes out at once
                flight.since = now

    def _lease_of(self, flight: _Flight) -> float:
        from automl.worker.lease import DEFAULT_LEASE_S

        return flight.lease_s or self._longest_lease or DEFAULT_LEASE_S

    def _by_study(self) -> dict[str, list[int]]:
        by_study: dict[str, list[int]] = {}
        for number, flight in self._in_flight.items():
            by_study.setdefault(flight.study_uid, []).append(number)
        return by_study

    def _read_back(self) -> list[TrialEvent]:
        from automl.worker.lease import LeaseState

        run_id = self._leases.run_id()
        if run_id != self._run_id:
            log.warning("the broker %s restarted; waiting one lease for workers to renew", mask_url(self._broker_url))
            self._run_id = run_id
            self._grant_grace()
        self._check_problems()
        events: list[TrialEvent] = []
        queued: set[str] | None = None  # message ids waiting in the queue, read when first needed
        now = time.monotonic()
        for uid, numbers in self._by_study().items():
            leases = self._leases.status(uid, numbers)  # before the storage; see the docstring
            for number in numbers:
                flight, lease = self._in_flight[number], leases[number]
                if lease.lease_s is not None:
                    flight.lease_s = lease.lease_s
                    self._longest_lease = max(self._longest_lease or 0.0, lease.lease_s)
                frozen = self._trial(flight.study_name, number)
                state = frozen.state
                if state.is_finished():
                    events.append(TrialEvent(EventKind.ENDED, number, frozen=frozen))
                elif lease.state == LeaseState.LAPSED and state == TrialState.RUNNING and now >= flight.grace_until:
                    reason = lease.error or LEASE_EXPIRED
                    log.warning("trial %d lost (worker %s): %s", number, lease.owner, reason)
                    events.append(TrialEvent(EventKind.LOST, number, reason))
                elif lease.state == LeaseState.UNCLAIMED and now - flight.since >= self._lease_of(flight):
                    if queued is None:
                        queued = self._queued_ids()
                    if flight.task_id in queued:
                        flight.since = now  # still waiting its turn; look again one lease later
                    else:
                        log.warning("trial %d: its message is neither queued nor claimed; sending it again", number)
                        self._send(number, flight)
        for event in events:
            self._forget(event.trial_number)
        return events

    def _check_problems(self) -> None:
        """A worker that cannot run a study's trials (its storage lacks the study) stops the run."""
        for uid in self._by_study():
            problem = self._leases.problem(uid)
            if problem:
                raise AutoMLError(mask_text(problem, self._storage_url, self._broker_url))

    def _queued_ids(self) -> set[str]:
        """Ids of the messages waiting in this backend's queue (every priority step)."""
        client = self._leases.client
        names = [self._queue] + [f"{self._queue}{_PRIORITY_SEP}{step}" for step in _PRIORITY_STEPS]
        ids: set[str] = set()
        for name in names:
            for raw in client.lrange(name, 0, -1):
                try:
                    ids.add(str(json.loads(raw)["headers"]["id"]))
                except (ValueError, KeyError, TypeError):
                    continue
        return ids

    def _forget(self, number: int) -> None:
        flight = self._in_flight.pop(number, None)
        if flight is not None:
            self._trial_ids.pop((flight.study_name, number), None)

    def _trial(self, study: str, number: int) -> FrozenTrial:
        assert self._storage is not None
        key = (study, number)
        if key not in self._trial_ids:
            self._trial_ids[key] = trial_id(self._storage, study, number)
        return self._storage.get_trial(self._trial_ids[key])


def _broker_retry_s() -> float:
    try:
        return float(os.environ.get(BROKER_RETRY_ENV, DEFAULT_BROKER_RETRY_S))
    except ValueError:
        return DEFAULT_BROKER_RETRY_S
