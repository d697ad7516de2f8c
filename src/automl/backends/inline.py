"""Trials run one after another in the calling process: for tests, debugging and notebooks.

Same contract as every backend: the trial is told to the storage by the worker code
(:func:`automl.runner.execute_trial`), and :meth:`InlineBackend.wait` reports it ended.
``capacity`` may exceed one, so that the coordinator keeps several trials RUNNING in the
storage (the sampler then sees them in flight), but only one trains at a time.
"""

from __future__ import annotations

from collections import deque

from automl.backends.base import Backend, EventKind, TrialEvent, TrialJob


class InlineBackend(Backend):
    def __init__(self, storage_url: str, capacity: int = 1) -> None:
        self._storage_url = storage_url
        self._capacity = capacity
        self._queue: deque[TrialJob] = deque()

    @property
    def capacity(self) -> int:
        return self._capacity

    def start(self) -> None:
        return None

    def submit(self, job: TrialJob) -> None:
        self._queue.append(job)

    def wait(self, timeout_s: float) -> list[TrialEvent]:
        from automl.runner.trial import execute_trial

        if not self._queue:
            return []
        job = self._queue.popleft()
        execute_trial(self._storage_url, job.study_name, job.trial_number, slot="inline")
        return [TrialEvent(EventKind.ENDED, job.trial_number)]

    def cancel_all(self) -> list[int]:
        numbers = [job.trial_number for job in self._queue]
        self._queue.clear()
        return numbers

    def close(self) -> None:
        self._queue.clear()
