"""``automl worker``: a small supervisor that runs one Celery worker process per slot.

A slot is one GPU (``--gpus all`` or ``0,1``; ``--trials-per-gpu K`` gives each GPU K slots) or,
without GPUs, one of ``--concurrency N`` CPU processes. Each slot is its own child process,
a Celery worker with the *solo* pool and concurrency 1, started with ``CUDA_VISIBLE_DEVICES``
set to its GPU (empty for CPU slots) and its slot name, which it records on every trial.

Why a supervisor of solo workers rather than Celery's prefork pool with per-child settings:

* ``CUDA_VISIBLE_DEVICES`` only works when set before CUDA initialises in a process. Setting it
  in the environment of a freshly started process is the one way that always holds; prefork
  children are forked from a parent and get their index only after the fork, and a recycled
  child gets a new index, so the GPU mapping would need bookkeeping of its own.
* Forking after torch has started threads (OpenMP, CUDA) is unsafe; starting fresh processes
  is not.
* The trial trains in the worker's main thread and its pid is the one recorded on the trial:
  ``kill -9`` of that pid loses exactly one trial, nothing else, and the supervisor starts the
  slot again. The lease thread lives next to the trial, so its death ends the lease too.
* Each slot consumes with prefetch 1, so a busy GPU never holds a message a free one could run.

The supervisor restarts a child that died, except one that stopped itself as unhealthy (too
many infrastructure failures in a row, exit code :data:`~automl.worker.tasks.EXIT_UNHEALTHY`).
On SIGTERM or Ctrl-C it asks every child to stop (Celery's warm shutdown): the running trial
checkpoints after its current epoch and ends as preempted (it runs again from there, not
counted as a retry); a child still running after ``grace_s`` is killed.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType

from automl.errors import UsageError
from automl.processes import describe_exit
from automl.worker.tasks import EXIT_UNHEALTHY

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Slot:
    name: str  # "gpu:0", "gpu:0/1" (second slot on GPU 0), "cpu:3"
    cuda_visible_devices: str  # "" hides every GPU from the process


def count_gpus() -> int:
    """CUDA GPUs torch can see here; 0 without CUDA (or without a CUDA build of torch)."""
    try:
        import torch

        return int(torch.cuda.device_count())
    except Exception:  # noqa: BLE001 - a broken driver means no GPU for us
        return 0


def plan_slots(
    gpus: str,
    trials_per_gpu: int = 1,
    concurrency: int = 1,
    gpu_count: Callable[[], int] = count_gpus,
    visible_devices: str | None = None,
) -> list[Slot]:
    """The slots for ``--gpus`` (all, none, or ids like ``0,1``).

    GPU ids are torch's, counted among the GPUs this process sees. ``visible_devices`` is this
    process' own ``CUDA_VISIBLE_DEVICES``, if set: a slot's process is then pinned to that
    list's entry for its id (``2,3`` makes GPU 0 the physical GPU 2; UUIDs work too), not to
    the physical GPU of the same number.

    >>> [s.name for s in plan_slots("none", concurrency=2)]
    ['cpu:0', 'cpu:1']
    >>> [s.name for s in plan_slots("all", trials_per_gpu=2, gpu_count=lambda: 1)]
    ['gpu:0/0', 'gpu:0/1']
    >>> slots = plan_slots("all", gpu_count=lambda: 2, visible_devices="2,3")
    >>> [s.cuda_visible_devices for s in slots]
    ['2', '3']
    """
    if trials_per_gpu < 1:
        raise UsageError(f"--trials-per-gpu must be >= 1, but got {trials_per_gpu}.")
    if concurrency < 1:
        raise UsageError(f"--concurrency must be >= 1, but got {concurrency}.")
    choice = gpus.strip().lower()
    if choice == "none":
        ids: list[int] = []
    elif choice == "all":
        ids = list(range(gpu_count()))
        if not ids:
            log.warning(
                "--gpus all: no CUDA GPU here (torch.cuda.device_count() == 0); running "
                "%d CPU process(es) instead",
                concurrency,
            )
    else:
        try:
            ids = sorted({int(part) for part in choice.split(",")})
        except ValueError:
            raise UsageError(
                f"--gpus must be all, none or GPU ids such as 0,1, but got {gpus!r}."
            ) from None
        available = gpu_count()
        missing = [i for i in ids if i < 0 or i >= available]
        if missing:
            raise UsageError(
                f"--gpus: GPU {missing[0]} does not exist; this machine has {available} GPU(s)."
            )
    if not ids:
        return [Slot(f"cpu:{i}", "") for i in range(concurrency)]
    seen = [e.strip() for e in (visible_devices or "").split(",") if e.strip()]
    return [
        Slot(
            f"gpu:{g}" if trials_per_gpu == 1 else f"gpu:{g}/{k}",
            seen[g] if g < len(seen) else str(g),
        )
        for g in ids
        for k in range(trials_per_gpu)
    ]


class Supervisor:
    """Starts ``command(slot)`` per slot with ``env`` plus the slot's GPU, and keeps them
    running."""

    def __init__(
        self,
        slots: list[Slot],
        command: Callable[[Slot], list[str]],
        env: Mapping[str, str],
        grace_s: float = 30.0,
    ) -> None:
        self._slots = slots
        self._command = command
        self._env = dict(env)
        self._grace_s = grace_s
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._started_at: dict[str, float] = {}
        self._quick_deaths: dict[str, int] = {}
        self._retired: set[str] = set()
        self._stopping = False

    def run(self) -> int:
        """Run until stopped (exit 0) or every slot retired itself as unhealthy (exit 1)."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            for slot in self._slots:
                self._start(slot)
            while not self._stopping:
                time.sleep(0.5)
                for slot in self._slots:
                    self._check(slot)
                if len(self._retired) == len(self._slots):
                    log.error(
                        "every worker process stopped itself as unhealthy; automl worker exits"
                    )
                    return 1
            return 0
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def _start(self, slot: Slot) -> None:
        env = self._env | {"CUDA_VISIBLE_DEVICES": slot.cuda_visible_devices}
        self._children[slot.name] = subprocess.Popen(self._command(slot), env=env)
        self._started_at[slot.name] = time.monotonic()
        log.info("started worker process %d for slot %s", self._children[slot.name].pid, slot.name)

    def _check(self, slot: Slot) -> None:
        child = self._children.get(slot.name)
        if child is None or slot.name in self._retired:
            return
        code = child.poll()
        if code is None or self._stopping:
            return
        if code == EXIT_UNHEALTHY:
            self._retired.add(slot.name)
            log.error(
                "worker process for slot %s stopped taking work (unhealthy node); not "
                "restarting it",
                slot.name,
            )
            return
        # A process that keeps dying at once (a broken driver, say) is restarted ever more slowly.
        quick = time.monotonic() - self._started_at[slot.name] < 30
        self._quick_deaths[slot.name] = self._quick_deaths.get(slot.name, 0) + 1 if quick else 0
        delay = min(60.0, 2.0 ** self._quick_deaths[slot.name]) if quick else 0.0
        log.warning(
            "worker process for slot %s exited (%s); restarting it in %.0fs",
            slot.name,
            describe_exit(code),
            delay,
        )
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not self._stopping:
            time.sleep(0.2)
        if not self._stopping:
            self._start(slot)

    def _stop_all(self) -> None:
        alive = [c for c in self._children.values() if c.poll() is None]
        for child in alive:
            # Celery's warm shutdown: the trial checkpoints and stops
            child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._grace_s
        for child in alive:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning(
                    "worker process %d did not stop within %.0fs; killing it",
                    child.pid,
                    self._grace_s,
                )
                child.kill()
                child.wait()
