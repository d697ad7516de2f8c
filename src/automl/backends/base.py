"""Where trials run. One small base class; the coordinator knows backends only through it.

Contract
--------
* The coordinator calls :meth:`Backend.start` once, then :meth:`submit` for each trial it has
  asked the sampler for (never more than :attr:`capacity` at once), then :meth:`wait` in a loop,
  and :meth:`close` in a ``finally``. On Ctrl-C it calls :meth:`cancel_all` before ``close``.
* A submitted trial is already RUNNING in the storage with its params. The worker reads
  everything else from the storage, trains, reports per epoch, and *tells the storage itself*
  (complete, pruned or failed with a reason): results never travel through the backend, so a
  result is safe the moment it is written, whatever happens to the coordinator.
* :meth:`wait` returns what happened to submitted trials: ``ENDED`` when the worker has told
  the storage, ``LOST`` (with a reason) when the worker vanished without telling. The
  coordinator, not the backend, marks lost trials failed and decides whether to retry them.
* When a coordinator starts on a study that has RUNNING trials (its predecessor died), it asks
  :meth:`adopt` which of them a worker may still be running: those are awaited like submitted
  trials (``wait`` reports them, as ``LOST`` if their worker turns out to be gone), and the
  rest are failed and run again.
* When the study's ``timeout`` passes, the coordinator calls :meth:`withdraw_queued` once: the
  trials it returns never started on a worker, and the coordinator fails them; a worker that
  gets one later finds it finished and skips it.
* A backend that learns a slot is free before it knows what became of its trial (Celery's: a
  worker announces the end, and the trial is read after) calls the coordinator's
  :meth:`Backend.when_freed` callback first, from inside :meth:`wait`, so that a trial asked
  ahead is sent at once; the events follow as usual.
* Ownership: one coordinator owns one backend; backends are not thread-safe.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from optuna.trial import FrozenTrial

from automl.worker.message import TrialJob

# TrialJob: the message, kept in worker/
__all__ = [
    "Backend",
    "EventKind",
    "TrialEvent",
    "TrialJob",
]


class EventKind(str, Enum):
    ENDED = "ended"
    LOST = "lost"


@dataclass(frozen=True)
class TrialEvent:
    kind: EventKind
    trial_number: int
    reason: str | None = None
    # The trial as the backend just read it from the storage, when it did: saves a read.
    frozen: FrozenTrial | None = None


class Backend(abc.ABC):
    """Runs trials somewhere; see the module docstring for the contract."""

    @property
    @abc.abstractmethod
    def capacity(self) -> int:
        """How many trials may be in flight at once."""

    @property
    def ask_ahead(self) -> int:
        """How many trials the coordinator may ask the sampler for before a slot frees up.

        Asked trials wait in the coordinator, RUNNING in the storage, and are submitted the
        moment a slot frees; at the timeout they are failed as never started. Worth it where
        asking is slow next to handing out (a remote storage); the default asks only when a
        slot is free.
        """
        return 0

    @abc.abstractmethod
    def start(self) -> None:
        """Get ready to take trials (start processes, connect to the broker)."""

    @abc.abstractmethod
    def submit(self, job: TrialJob) -> None:
        """Hand a RUNNING trial to a worker; returns at once."""

    @abc.abstractmethod
    def wait(self, timeout_s: float) -> list[TrialEvent]:
        """Block up to ``timeout_s`` for at least one event; return all that are ready.

        Returns within about ``timeout_s`` even while trials train (an empty list then), and at
        once when nothing is in flight. Each submitted trial is reported once: ``ENDED`` once
        its worker told the storage, or ``LOST`` with a reason once its worker vanished without
        telling (the backend leaves the trial as it is, normally RUNNING).
        """

    _freed: Callable[[int], None] | None = None

    def when_freed(self, refill: Callable[[int], None]) -> None:
        """Have ``refill(k)`` called from inside :meth:`wait` the moment ``k`` trials in flight
        have left their workers' slots, before their events are read; ``refill`` may
        :meth:`submit`. Those ``k`` trials are still in flight until their events come (an
        announced trial that did not end stays in flight and is read back like any other). The
        default backend never calls it: its events come as soon as it learns of them."""
        self._freed = refill

    def adopt(self, study_name: str, study_uid: str, running: list[int]) -> list[int]:
        """Of these RUNNING trials, the ones a worker may still run (awaited, not retried now).

        The default knows of no worker outside this coordinator's own, so it adopts none.
        """
        return []

    def withdraw_queued(self) -> list[int]:
        """Stop waiting for submitted trials that no worker has started; return their numbers.

        The default starts every submitted trial at once, so none is ever waiting.
        """
        return []

    @abc.abstractmethod
    def cancel_all(self) -> list[int]:
        """Stop every trial in flight now; return their numbers. No event follows for them.

        When it returns, no process this backend owns trains them any longer. Each is left in
        the storage either FAIL with reason "preempted" (its worker checkpointed and stopped
        it) or still RUNNING, for the coordinator to fail as interrupted; workers this backend
        does not own (Celery's) stop such a trial at its next epoch, once it is failed.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release everything; safe to call twice and after a failed start."""
