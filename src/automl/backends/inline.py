"""Trials run one after another in this process: for tests, debugging and notebooks.

Same contract as every backend: the trial is told to the storage by the worker code
(:func:`automl.runner.execute_trial`), and :meth:`InlineBackend.wait` reports it ended. The
trial trains in a background thread of its own, so that :meth:`~InlineBackend.wait` blocks at
most its ``timeout_s`` (the coordinator stays responsive: progress, timeout, Ctrl-C) and
:meth:`~InlineBackend.cancel_all` can stop it at its next epoch. ``capacity`` may exceed one, so
that the coordinator keeps several trials RUNNING in the storage (the sampler then sees them in
flight), but only one trains at a time; the others wait their turn in submission order.

An error that escapes the worker code (the storage gone for longer than its retry window) is
raised again by :meth:`~InlineBackend.wait`, in the caller's thread, as if the trial had
trained there. That window is the coordinator's, :attr:`Settings.storage_retry_s
<automl.settings.Settings>` of ``settings``, as the local backend gives its processes: give the
backend the coordinator's settings.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque

from automl.backends.base import Backend, EventKind, TrialEvent, TrialJob
from automl.runner.host import TrialHost
from automl.settings import Settings

log = logging.getLogger(__name__)

STOP_GRACE_S = 30.0  # how long cancel_all and close wait for the trial to reach its next epoch


class _Run:
    """One trial training in the background thread."""

    def __init__(self, job: TrialJob) -> None:
        self.job = job
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None


class InlineBackend(Backend):
    def __init__(
        self,
        storage_url: str,
        capacity: int = 1,
        stop_grace_s: float = STOP_GRACE_S,
        settings: Settings | None = None,
    ) -> None:
        self._storage_url = storage_url
        self._capacity = capacity
        # The caches of the trials this backend runs in this process, and their storage retry
        # window.
        self._host = TrialHost(storage_retry_s=(settings or Settings()).storage_retry_s)
        self._stop_grace_s = stop_grace_s
        self._queue: deque[TrialJob] = deque()
        self._running: _Run | None = None
        # What the thread hands back: the trial it ran, and the error that escaped, if one did.
        self._done: queue.Queue[tuple[_Run, BaseException | None]] = queue.Queue()

    @property
    def capacity(self) -> int:
        return self._capacity

    def start(self) -> None:
        return None

    def submit(self, job: TrialJob) -> None:
        self._queue.append(job)
        self._next()

    def wait(self, timeout_s: float) -> list[TrialEvent]:
        self._next()
        if self._running is None:
            return []
        try:
            item = self._done.get(timeout=max(0.0, timeout_s))
        except queue.Empty:
            return []
        events: list[TrialEvent] = []
        while True:
            run, error = item
            if run is self._running:  # else a cancelled run's late word: already given up
                self._running = None
                if error is not None:
                    raise error
                events.append(TrialEvent(EventKind.ENDED, run.job.trial_number))
                self._next()
            try:
                item = self._done.get_nowait()
            except queue.Empty:
                return events

    def cancel_all(self) -> list[int]:
        """Stop the training trial at its next epoch (it is left RUNNING, and nothing more is
        written to it) and drop the queued ones; returns once the thread has stopped."""
        numbers = [job.trial_number for job in self._queue]
        self._queue.clear()
        if self._running is not None:
            numbers.insert(0, self._running.job.trial_number)
            self._halt()
        return numbers

    def close(self) -> None:
        self._queue.clear()
        if self._running is not None:
            self._halt()

    def _next(self) -> None:
        """Start the next queued trial when none trains."""
        if self._running is not None or not self._queue:
            return
        run = _Run(self._queue.popleft())
        run.thread = threading.Thread(
            target=self._train,
            args=(run,),
            name=f"automl-inline-{run.job.trial_number}",
            daemon=True,
        )
        self._running = run
        run.thread.start()

    def _train(self, run: _Run) -> None:
        from automl.runner.execute import execute_trial
        from automl.runner.reporter import ClaimLost

        error: BaseException | None = None
        try:
            execute_trial(
                self._host,
                self._storage_url,
                run.job.study_name,
                run.job.trial_number,
                slot="inline",
                should_stop=run.stop.is_set,
            )
        except ClaimLost:
            pass  # cancelled: it stopped at an epoch and wrote nothing more
        except BaseException as exc:  # noqa: BLE001 - raised again by wait(), in the caller's thread
            error = exc
        self._done.put((run, error))

    def _halt(self) -> None:
        run, self._running = self._running, None
        assert run is not None and run.thread is not None
        run.stop.set()
        run.thread.join(self._stop_grace_s)
        if run.thread.is_alive():
            log.warning(
                "trial %d did not reach its next epoch within %.0f s; it writes nothing "
                "more when it does",
                run.job.trial_number,
                self._stop_grace_s,
            )
