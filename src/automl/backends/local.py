"""Trials in worker processes on this machine: no servers, nothing to install.

Each slot is one spawned process with its own pipe. A process keeps its data sets cached
between trials and uses ``threads_per_worker`` torch threads, so that the slots together use
the machine's cores once. The coordinator waits on the pipes and on the processes' sentinels
together, so a process that dies (killed, segfault, out of memory) is noticed at once.

>>> backend = LocalBackend("sqlite:///automl.db", n_workers=2)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import signal
import time
from multiprocessing.connection import Connection, wait
from typing import Any

from automl.backends.base import Backend, EventKind, TrialEvent, TrialJob
from automl.processes import describe_exit, threads_per_process
from automl.settings import Settings

log = logging.getLogger(__name__)


class _Slot:
    def __init__(self, index: int) -> None:
        self.index = index
        self.process: Any = None
        self.conn: Connection | None = None
        self.job: TrialJob | None = None


class LocalBackend(Backend):
    """``n_workers`` spawned processes, each running one trial at a time."""

    def __init__(
        self,
        storage_url: str,
        n_workers: int,
        threads_per_worker: int | None = None,
        grace_s: float = 30.0,
        settings: Settings | None = None,
    ) -> None:
        self._storage_url = storage_url
        self._storage_retry_s = (settings or Settings()).storage_retry_s
        self.grace_s = grace_s  # how long a preempted trial may take to checkpoint on Ctrl-C
        self._threads = threads_per_worker or threads_per_process(n_workers)
        self._ctx = mp.get_context("spawn")
        self._slots = [_Slot(i) for i in range(n_workers)]

    @property
    def capacity(self) -> int:
        return len(self._slots)

    def start(self) -> None:
        for slot in self._slots:
            self._spawn(slot)

    def _spawn(self, slot: _Slot) -> None:
        ours, theirs = self._ctx.Pipe(duplex=True)
        name = f"local:{slot.index}"
        slot.process = self._ctx.Process(
            target=_worker_main,
            args=(theirs, self._storage_url, self._threads, name, self._storage_retry_s),
            name=f"automl-worker-{slot.index}",
            daemon=True,
        )
        slot.process.start()
        theirs.close()
        slot.conn = ours
        slot.job = None

    def submit(self, job: TrialJob) -> None:
        slot = next((s for s in self._slots if s.job is None), None)
        if slot is None:
            raise RuntimeError("no idle worker process; the coordinator submitted over capacity")
        if slot.process is None or not slot.process.is_alive():
            self._spawn(slot)
        assert slot.conn is not None
        slot.job = job
        slot.conn.send(job.to_wire())

    def wait(self, timeout_s: float) -> list[TrialEvent]:
        busy = [s for s in self._slots if s.job is not None]
        if not busy:
            return []
        handles: list[Any] = [s.conn for s in busy] + [s.process.sentinel for s in busy]
        wait(handles, timeout=timeout_s)
        events: list[TrialEvent] = []
        for slot in busy:
            assert slot.job is not None and slot.conn is not None
            # Read a result first: a process may tell, send and then die.
            if _poll(slot.conn):
                try:
                    number, _state = slot.conn.recv()
                except (EOFError, OSError):
                    pass
                else:
                    events.append(TrialEvent(EventKind.ENDED, number))
                    slot.job = None
                    continue
            if not slot.process.is_alive():
                reason = f"worker lost: process {describe_exit(slot.process.exitcode)}"
                log.warning(
                    "worker process %d died running trial %d: %s",
                    slot.index,
                    slot.job.trial_number,
                    reason,
                )
                events.append(TrialEvent(EventKind.LOST, slot.job.trial_number, reason))
                slot.conn.close()
                self._spawn(slot)
        return events

    def cancel_all(self) -> list[int]:
        """Preempt: each busy process checkpoints its trial at the end of the current epoch and
        records it as preempted (SIGTERM); one still busy after the grace period is killed."""
        running = [s.job.trial_number for s in self._slots if s.job is not None]
        for slot in self._slots:
            if slot.process is not None and slot.process.is_alive():
                if slot.job is not None:
                    slot.process.terminate()
                else:
                    slot.process.kill()
        deadline = time.monotonic() + self.grace_s
        for slot in self._slots:
            if slot.process is not None:
                slot.process.join(timeout=max(0.1, deadline - time.monotonic()))
                if slot.process.is_alive():
                    log.warning(
                        "worker process %d did not stop within %.0fs; killing it",
                        slot.index,
                        self.grace_s,
                    )
                    slot.process.kill()
                    slot.process.join(timeout=5)
            slot.job = None
        return running

    def close(self) -> None:
        for slot in self._slots:
            if slot.conn is not None and slot.process is not None and slot.process.is_alive():
                try:
                    slot.conn.send(None)
                except (OSError, BrokenPipeError):
                    pass
        for slot in self._slots:
            if slot.process is not None:
                slot.process.join(timeout=10)
                if slot.process.is_alive():
                    slot.process.kill()
                    slot.process.join(timeout=5)
            if slot.conn is not None:
                slot.conn.close()
            slot.process, slot.conn, slot.job = None, None, None


def _poll(conn: Connection) -> bool:
    try:
        return conn.poll()
    except (EOFError, OSError):
        return False


def _worker_main(
    conn: Connection, storage_url: str, threads: int, slot: str, storage_retry_s: float
) -> None:
    # Ctrl-C reaches the whole process group; the coordinator alone decides what happens, and
    # it sends SIGTERM: the trial checkpoints after its current epoch and ends as preempted.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    from automl.training import request_preemption
    from automl.training.checkpoint import preemption_requested

    signal.signal(signal.SIGTERM, lambda *_: request_preemption())

    from automl.logs import configure_worker_logging
    from automl.runner.execute import execute_trial
    from automl.runner.host import TrialHost
    from automl.search.storage import quiet_optuna

    configure_worker_logging()
    quiet_optuna()
    torch.set_num_threads(threads)
    # This process' caches between trials; its storage retries for the coordinator's window.
    host = TrialHost(storage_retry_s=storage_retry_s)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        job = TrialJob.from_wire(message)
        assert job is not None, f"not a trial message: {message!r}"  # this backend's own pipe
        state = execute_trial(host, storage_url, job.study_name, job.trial_number, slot=slot)
        conn.send((job.trial_number, state.name))
        if preemption_requested():
            return
