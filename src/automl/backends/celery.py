"""Trials on Celery workers (``automl worker``) through a Redis broker.

The coordinator sends ``automl.run_trial(study_name, trial_number, study_uid, spec_digest)`` to the
study's queue. A worker that ended a trial (told the storage) pushes its number to the study's
events list on the broker (:mod:`automl.worker.notices`); the coordinator blocks on that list, so it
learns of an end within a round trip, and checks the trial's state in the storage. The push is
a hint: the storage is the record. Every so often the coordinator also reads back every trial
in flight, and sends again a trial whose message was lost (:mod:`automl.backends.inflight`).

The broker may go away. While it is unreachable the coordinator keeps its trials in flight and
retries (up to :attr:`~automl.settings.Settings.broker_retry_s`, ``AUTOML_BROKER_RETRY_S``,
default 600 s, then one clear error). When it comes back, or restarted unseen (its run id
changed), every trial in flight gets one more lease interval before a lapsed lease counts as
lost or an unclaimed trial is sent again.

On a coordinator restart :meth:`CeleryBackend.adopt` keeps the trials some worker claimed,
with the same grace; those never claimed are failed and run again by the coordinator (a late
message for a failed trial is skipped by the worker). ``cancel_all`` sends nothing to the
workers: the coordinator fails the trials, and a worker stops a trial at its next epoch, when
its report to a finished trial is refused.

>>> backend = CeleryBackend(  # doctest: +SKIP
...     "postgresql://db/automl", "redis://broker:6379/0", "automl", 8
... )
"""

from __future__ import annotations

import logging
import time
from typing import Any

from automl.backends.base import Backend, EventKind, TrialEvent, TrialJob
from automl.backends.inflight import Flight, InFlight
from automl.errors import AutoMLError
from automl.masking import mask_text, mask_url
from automl.search.storage import make_storage
from automl.settings import Settings
from automl.worker.lease import BROKER_DOWN, LeaseState, LeaseStore
from automl.worker.notices import Notices

log = logging.getLogger(__name__)

POLL_S = 0.25  # how long to pause while the broker is unreachable


class CeleryBackend(Backend):
    """Sends trials to ``queue`` on ``broker_url``; ``parallelism`` of them in flight.

    ``settings`` gives the storage and broker retry windows, the read-back interval and the lease
    assumed until a worker's claim says its own (default: :class:`~automl.settings.Settings`'
    defaults).
    """

    def __init__(
        self,
        storage_url: str,
        broker_url: str,
        queue: str,
        parallelism: int,
        settings: Settings | None = None,
    ) -> None:
        from automl.worker.celery_app import check_broker_url

        self._settings = settings or Settings()
        self._storage_url = storage_url
        self._broker_url = check_broker_url(broker_url)
        self._queue = queue
        self._parallelism = parallelism
        self._app: Any = None
        self._producer: Any = None  # kombu's, taken from the app's pool at the first send
        self._leases: LeaseStore | None = None
        self._notices: Notices | None = None
        self._flights = InFlight(
            storage_url, self._broker_url, queue, self._settings.lease_s, self._send
        )
        self._in_flight = self._flights.flights
        self._uids: set[str] = set()  # studies whose stale worker problems were cleared
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

        # the coordinator's window
        storage = make_storage(self._storage_url, retry_s=self._settings.storage_retry_s)
        self._app = create_app(self._broker_url, [self._queue])
        self._leases = LeaseStore.from_url(self._broker_url)
        self._notices = Notices(self._leases.client)
        try:
            self._leases.ping()
        except Exception as exc:  # noqa: BLE001 - redis raises many kinds; all mean "cannot reach"
            raise AutoMLError(
                f"cannot reach the broker {mask_url(self._broker_url)}: "
                f"{mask_text(str(exc), self._broker_url)}"
            ) from None
        self._flights.connect(storage, self._leases, self._notices)
        log.info("sending trials to queue %r on %s", self._queue, mask_url(self._broker_url))

    def submit(self, job: TrialJob) -> None:
        self._watch(job.study_uid)
        flight = Flight(job.study_name, job.study_uid, job.spec_digest)
        self._in_flight[job.trial_number] = flight
        self._send(job.trial_number, flight)

    def _watch(self, study_uid: str) -> None:
        """A worker problem left from an earlier run of this study is not news: forget it."""
        if study_uid not in self._uids:
            assert self._notices is not None
            self._notices.clear_problem(study_uid)
            self._uids.add(study_uid)

    def _send(self, number: int, flight: Flight) -> None:
        from automl.worker.celery_app import TASK_NAME

        flight.since = time.monotonic()
        try:
            if self._producer is None:  # one producer for every send: no pool round per trial
                self._producer = self._app.producer_pool.acquire(block=True)
            args = [
                TrialJob(flight.study_name, number, flight.study_uid, flight.spec_digest).to_wire()
            ]
            # No retries inside kombu: a trial that could not be sent is sent again below.
            result = self._app.send_task(
                TASK_NAME, args=args, queue=self._queue, producer=self._producer, retry=False
            )
        except Exception as exc:  # noqa: BLE001 - kombu wraps connection errors in several kinds
            log.warning(
                "could not send trial %d (%s); will send it again", number, type(exc).__name__
            )
            self._drop_producer()  # its connection may be gone: the next send takes a fresh one
            flight.task_id = None  # never sent: no claim can exist, so send it at the next check
            flight.since = 0.0
            return
        flight.task_id = str(result.id)

    def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.release()
            except Exception:  # noqa: BLE001 - a broken connection is what we are dropping
                pass

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
        every = self._settings.fallback_poll_s
        return min(every, (self._flights.longest_lease or every * 2) / 2)

    def _listen(self, block_s: float) -> list[TrialEvent]:
        """Wait up to ``block_s`` for workers' announcements; the ended trials among them."""
        assert self._leases is not None and self._notices is not None
        try:
            announced = self._notices.take_events(
                list(self._flights.by_study()), max(0.01, block_s)
            )
            events: list[TrialEvent] = []
            ours = [
                (uid, n)
                for uid, n in announced
                if n in self._in_flight and self._in_flight[n].study_uid == uid
            ]
            if ours and self._freed is not None:
                self._freed(len(ours))  # their workers are free now: next trials before the read
            # one read
            now = self._flights.trials([(self._in_flight[n].study_name, n) for _, n in ours])
            for uid, number in ours:
                frozen = now[(self._in_flight[number].study_name, number)]
                if frozen.state.is_finished():  # the announcement's usual meaning
                    events.append(TrialEvent(EventKind.ENDED, number, frozen=frozen))
                    continue
                lease = self._leases.status(uid, [number])[number]
                # the worker gave it up, and said why
                if lease.state == LeaseState.LAPSED and lease.error:
                    log.warning("trial %d lost (worker %s): %s", number, lease.owner, lease.error)
                    events.append(TrialEvent(EventKind.LOST, number, lease.error))
        except BROKER_DOWN as exc:
            self._broker_down(exc)
            self._next_poll = 0.0  # the full read-back notices when it is back
            time.sleep(POLL_S)
            return []
        for event in events:
            self._flights.forget(event.trial_number)
        return events

    def adopt(self, study_name: str, study_uid: str, running: list[int]) -> list[int]:
        if not running:
            return []
        assert self._leases is not None
        self._watch(study_uid)
        status = self._leases.status(study_uid, running)
        now = time.monotonic()
        adopted = []
        for number in running:
            lease = status[number]
            if lease.state == LeaseState.UNCLAIMED:
                continue
            flight = Flight(study_name, study_uid, since=now, lease_s=lease.lease_s)
            # a lapsed lease may be one the broker lost
            flight.grace_until = now + self._flights.lease_of(flight)
            self._in_flight[number] = flight
            adopted.append(number)
            log.info(
                "trial %d: claimed by worker %s (lease %s); waiting for it",
                number,
                lease.owner,
                lease.state.value,
            )
        return adopted

    def withdraw_queued(self) -> list[int]:
        assert self._leases is not None
        withdrawn: list[int] = []
        try:
            for uid, numbers in self._flights.by_study().items():
                status = self._leases.status(uid, numbers)
                withdrawn += [n for n in numbers if status[n].state == LeaseState.UNCLAIMED]
        except BROKER_DOWN as exc:
            log.warning(
                "cannot withdraw queued trials: the broker is unreachable (%s)", type(exc).__name__
            )
            return []
        for number in withdrawn:
            self._flights.forget(number)
        return withdrawn

    def cancel_all(self) -> list[int]:
        numbers = list(self._in_flight)
        self._in_flight.clear()
        return numbers

    def close(self) -> None:
        if self._leases is not None:
            self._leases.close()
            self._leases = None
        self._drop_producer()
        if self._app is not None:
            self._app.close()
            self._app = None
        self._in_flight.clear()

    # -- the broker going away ----------------------------------------------------------------

    def _poll(self) -> list[TrialEvent]:
        try:
            events = self._flights.read_back()
        except BROKER_DOWN as exc:
            self._broker_down(exc)
            return []
        if self._down_since is not None:
            log.warning("the broker %s is back", mask_url(self._broker_url))
            self._down_since = None
            self._flights.grant_grace()
        return events

    def _broker_down(self, exc: BaseException) -> None:
        now = time.monotonic()
        limit = self._settings.broker_retry_s
        if self._down_since is None:
            self._down_since = now
            log.warning(
                "the broker %s is unreachable (%s); retrying",
                mask_url(self._broker_url),
                type(exc).__name__,
            )
        elif now - self._down_since > limit:
            raise AutoMLError(
                f"lost the broker {mask_url(self._broker_url)} and it did not come back within "
                f"{limit:g} s: {type(exc).__name__}: {mask_text(str(exc), self._broker_url)}",
                hint="finished trials are safe in the storage; run the same command again "
                "once it is back",
            )
