"""The trials a :class:`~automl.backends.celery.CeleryBackend` sent and has not seen end, and
the read-back that tells what became of them.

Every :attr:`~automl.settings.Settings.fallback_poll_s` seconds (sooner with short leases) the
coordinator reads back, for each trial in flight (:meth:`InFlight.read_back`):

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

After a broker outage, or a restart seen as a new run id, every trial in flight gets one more
full lease interval (its worker's, read from its claim; :attr:`~automl.settings.Settings.lease_s`
until a claim was read) before a lapsed lease counts as lost or an unclaimed trial is sent
again (:meth:`InFlight.grant_grace`): workers need that time to renew leases that lapsed
meanwhile, and to put back claims a restart lost.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from automl.backends.base import EventKind, TrialEvent
from automl.errors import AutoMLError
from automl.masking import mask_text, mask_url
from automl.search.counts import running_numbers, trials_by_id
from automl.worker.lease import LeaseState, LeaseStore
from automl.worker.notices import Notices

log = logging.getLogger(__name__)

LEASE_EXPIRED = "worker lost: lease expired"
# kombu keeps a queue's messages in a Redis list named after the queue, and one list per
# priority step (``<queue>\x06\x16<step>``) for messages sent with a priority.
PRIORITY_SEP = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)


@dataclass
class Flight:
    """A trial sent to the workers and not ended yet."""

    study_name: str
    study_uid: str
    spec_digest: str = ""
    task_id: str | None = None  # the Celery message's id; None until a send succeeded
    since: float = 0.0  # when it was sent, or when the broker came back: resends count from here
    lease_s: float | None = None  # the lease its worker keeps, from its claim
    grace_until: float = 0.0  # a lapsed lease is not taken for a lost worker before this


class InFlight:
    """Trials in flight, by number, and what the broker and the storage say of them.

    ``send(number, flight)`` sends a trial's message (again); ``lease_s`` is the lease assumed
    for a trial whose claim was not read yet. :meth:`connect` before anything is read back.
    """

    def __init__(
        self,
        storage_url: str,
        broker_url: str,
        queue: str,
        lease_s: float,
        send: Callable[[int, Flight], None],
    ) -> None:
        self.flights: dict[int, Flight] = {}
        self.longest_lease: float | None = None  # the longest lease seen on any claim
        self._storage_url, self._broker_url, self._queue = storage_url, broker_url, queue
        self._default_lease_s = lease_s
        self._send = send
        self._storage: BaseStorage | None = None
        self._leases: LeaseStore | None = None
        self._notices: Notices | None = None
        self._trial_ids: dict[tuple[str, int], int] = {}
        self._study_ids: dict[str, int] = {}
        self._run_id: str | None = None  # the broker's; a change means it restarted

    def connect(self, storage: BaseStorage, leases: LeaseStore, notices: Notices) -> None:
        """Read back through these from now on; the broker's run id is noted as it is now."""
        self._storage, self._leases, self._notices = storage, leases, notices
        self._run_id = leases.run_id()

    def by_study(self) -> dict[str, list[int]]:
        """The numbers in flight, by study uid."""
        by_study: dict[str, list[int]] = {}
        for number, flight in self.flights.items():
            by_study.setdefault(flight.study_uid, []).append(number)
        return by_study

    def forget(self, number: int) -> None:
        flight = self.flights.pop(number, None)
        if flight is not None:
            self._trial_ids.pop((flight.study_name, number), None)

    def trials(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], FrozenTrial]:
        """The trials ``(study, number)`` as the storage holds them now: one read per study
        (:func:`~automl.search.counts.trials_by_id`), however many ended together."""
        assert self._storage is not None
        found: dict[tuple[str, int], FrozenTrial] = {}
        for study in {s for s, _ in keys}:
            ids = {self._trial_id(study, n) for s, n in keys if s == study}
            for frozen in trials_by_id(self._storage, self._study_id(study), ids):
                found[(study, frozen.number)] = frozen
        return found

    def _trial_id(self, study: str, number: int) -> int:
        """The storage's id of a trial in flight, read once (Optuna's cache knows the ones
        this process created)."""
        assert self._storage is not None
        key = (study, number)
        if key not in self._trial_ids:
            self._trial_ids[key] = self._storage.get_trial_id_from_study_id_trial_number(
                self._study_id(study), number
            )
        return self._trial_ids[key]

    def _study_id(self, study: str) -> int:
        """The storage's id of a study in flight, read once (a study's id never changes)."""
        assert self._storage is not None
        if study not in self._study_ids:
            self._study_ids[study] = self._storage.get_study_id_from_name(study)
        return self._study_ids[study]

    def running(self) -> set[tuple[str, int]]:
        """(study, number) of every trial still RUNNING in the studies in flight, from one query
        of their numbers per study: the trials that left that state are the ones to read
        (:meth:`trials`)."""
        assert self._storage is not None
        running: set[tuple[str, int]] = set()
        for study in {flight.study_name for flight in self.flights.values()}:
            running.update(
                (study, n) for n in running_numbers(self._storage, self._study_id(study))
            )
        return running

    def lease_of(self, flight: Flight) -> float:
        """The lease its worker keeps: from its claim, else the longest seen, else the assumed
        one."""
        return flight.lease_s or self.longest_lease or self._default_lease_s

    def grant_grace(self) -> None:
        """After an outage or a restart, give every trial in flight one more lease interval.

        Counted from when the broker is back, so that a worker still training has renewed its
        lease, and put its claim back, before its trial is called lost or sent again.
        """
        now = time.monotonic()
        for flight in self.flights.values():
            flight.grace_until = now + self.lease_of(flight)
            if flight.task_id:  # a trial never sent keeps its due time: it goes out at once
                flight.since = now

    def read_back(self) -> list[TrialEvent]:
        """The trials that ended or were lost (forgotten here); those whose message is gone are
        sent again. Raises what redis raises when the broker is unreachable."""
        assert self._leases is not None
        run_id = self._leases.run_id()
        if run_id != self._run_id:
            log.warning(
                "the broker %s restarted; waiting one lease for workers to renew",
                mask_url(self._broker_url),
            )
            self._run_id = run_id
            self.grant_grace()
        self._check_problems()
        events: list[TrialEvent] = []
        queued: set[str] | None = None  # message ids waiting in the queue, read when first needed
        now = time.monotonic()
        by_study = self.by_study()
        # before the storage
        leases = {uid: self._leases.status(uid, numbers) for uid, numbers in by_study.items()}
        running = self.running()
        ended = self.trials(
            [(f.study_name, n) for n, f in self.flights.items() if (f.study_name, n) not in running]
        )
        for uid, numbers in by_study.items():
            for number in numbers:
                flight, lease = self.flights[number], leases[uid][number]
                if lease.lease_s is not None:
                    flight.lease_s = lease.lease_s
                    self.longest_lease = max(self.longest_lease or 0.0, lease.lease_s)
                # finished, most likely, when not RUNNING
                frozen = ended.get((flight.study_name, number))
                state = TrialState.RUNNING if frozen is None else frozen.state
                if frozen is not None and state.is_finished():
                    events.append(TrialEvent(EventKind.ENDED, number, frozen=frozen))
                elif (
                    lease.state == LeaseState.LAPSED
                    and state == TrialState.RUNNING
                    and now >= flight.grace_until
                ):
                    reason = lease.error or LEASE_EXPIRED
                    log.warning("trial %d lost (worker %s): %s", number, lease.owner, reason)
                    events.append(TrialEvent(EventKind.LOST, number, reason))
                elif lease.state == LeaseState.UNCLAIMED and now - flight.since >= self.lease_of(
                    flight
                ):
                    if queued is None:
                        queued = self._queued_ids()
                    if flight.task_id in queued:
                        flight.since = now  # still waiting its turn; look again one lease later
                    else:
                        log.warning(
                            "trial %d: its message is neither queued nor claimed; sending it again",
                            number,
                        )
                        self._send(number, flight)
        for event in events:
            self.forget(event.trial_number)
        return events

    def _check_problems(self) -> None:
        """A worker that cannot run a study's trials (its storage lacks the study) stops the run."""
        assert self._notices is not None
        for uid in self.by_study():
            problem = self._notices.problem(uid)
            if problem:
                raise AutoMLError(mask_text(problem, self._storage_url, self._broker_url))

    def _queued_ids(self) -> set[str]:
        """Ids of the messages waiting in the queue (every priority step)."""
        assert self._leases is not None
        client = self._leases.client
        names = [self._queue] + [f"{self._queue}{PRIORITY_SEP}{step}" for step in PRIORITY_STEPS]
        ids: set[str] = set()
        for name in names:
            for raw in client.lrange(name, 0, -1):
                try:
                    ids.add(str(json.loads(raw)["headers"]["id"]))
                except (ValueError, KeyError, TypeError):
                    continue
        return ids
