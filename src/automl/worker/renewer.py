"""The thread that keeps a trial's lease alive while the trial trains.

A worker that claimed a trial (:meth:`automl.worker.lease.LeaseStore.claim`) renews its lease
three times per lease interval from a daemon thread, so that one missed renewal (a slow Redis,
a GC pause) does not make a live trial look dead to the coordinator.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

import redis

from automl.worker.lease import LeaseStore

log = logging.getLogger(__name__)


class LeaseRenewer:
    """Renews one trial's lease from a daemon thread while the trial trains.

    >>> lease = LeaseRenewer(store, "3f2a...", 7, new_owner("gpu:0"), lease_s=30)  # doctest: +SKIP
    >>> with lease as renewer:  # doctest: +SKIP
    ...     train(should_stop=lambda: renewer.lost)

    A renewal that fails because Redis is unreachable is logged and retried at the next tick:
    the broker is a shared dependency, not this node's fault, and the coordinator gives a lapsed
    lease one more lease interval once the broker is back. ``lost`` turns true when another
    delivery owns the trial now: this one must stop training it.
    """

    def __init__(
        self, store: LeaseStore, study_uid: str, number: int, owner: str, lease_s: float
    ) -> None:
        self._store = store
        self._study_uid = study_uid
        self._number = number
        self._owner = owner
        self._lease_s = lease_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{number}", daemon=True)
        self.lost = False
        self._unreachable = False

    def __enter__(self) -> LeaseRenewer:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=self._lease_s)

    def _run(self) -> None:
        # Three renewals per lease: one missed renewal (a slow Redis, a GC pause) does not
        # make a live trial look dead.
        while not self._stop.wait(self._lease_s / 3):
            try:
                renewed = self._store.renew(
                    self._study_uid, self._number, self._owner, self._lease_s
                )
            except redis.RedisError as exc:
                if not self._unreachable:
                    log.warning(
                        "trial %d: cannot renew its lease (%s); the broker is "
                        "unreachable, still training",
                        self._number,
                        type(exc).__name__,
                    )
                self._unreachable = True
                continue
            if self._unreachable:
                log.warning("trial %d: the broker is back; lease renewed", self._number)
                self._unreachable = False
            if not renewed:
                log.error(
                    "trial %d: another delivery owns it now; this one stops training it",
                    self._number,
                )
                self.lost = True
                return
