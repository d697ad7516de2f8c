"""One behaviour suite for every backend, as Optuna runs one suite over every storage.

Each test checks a promise of the contract in :mod:`automl.backends.base` on the inline
backend (this process), the local backend (spawned worker processes) and the celery backend
(``automl worker`` processes on the machine's Redis broker; integration). The test plays the
coordinator: it asks trials as the coordinator does (RUNNING in the storage, with params) and
hands the backend ids only. Trials train the tiny study of tests/conftest.py with the model of
tests/slow_model.py, whose forward passes sleep, so a trial lasts as long on any machine.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from optuna.trial import FrozenTrial, TrialState

from automl.backends import Backend, EventKind, InlineBackend, LocalBackend, TrialEvent, TrialJob
from automl.errors import PREEMPTED
from automl.search import make_storage, open_study
from automl.search.study import SPEC_ATTR, UID_ATTR, fail_trial, spec_digest
from automl.studyfile import StudySpec, parse_spec
from automl.studyfile.space import suggest_params
from automl.trial_attrs import DURATION_S, FAIL_REASON, PID, FailKind
from tests.conftest import tiny_yaml
from tests.integration.conftest import LEASE_S, WorkerPool

SLEEP_S = 0.01  # per forward pass of the slow model
QUICK_EPOCHS = 2  # a trial of well under a second
LONG_EPOCHS = 2000  # never ends within a test: it is cancelled or its worker killed
MARGIN_S = 0.5  # what wait(timeout_s) may take beyond timeout_s
LOCAL_LOST = "worker lost: process killed by SIGKILL"
CELERY_LOST = "worker lost: lease expired"


def study_yaml(name: str, storage: str, epochs: int, execution: str = "") -> str:
    """The tiny study, trained by the slow model for exactly ``epochs`` epochs; ``execution``:
    more keys of its execution section."""
    text = tiny_yaml(name, storage, epochs=epochs, pruner="none", n_trials=1000)
    text = text.replace("batch_size: 64}", "batch_size: 64, early_stopping: null}")
    text = text.replace("trainer:", "model: {family: 'python:tests.slow_model:build'}\ntrainer:")
    return text.replace("execution: {", f"execution: {{{execution}")


class Study:
    """A study the test asks trials of, as the coordinator does."""

    def __init__(self, spec: StudySpec, storage_url: str) -> None:
        self.spec, self.storage_url = spec, storage_url
        self.study = open_study(spec, storage_url)
        attrs = self.study.user_attrs
        self.uid, self.digest = str(attrs[UID_ATTR]), spec_digest(attrs.get(SPEC_ATTR))

    def job(self) -> TrialJob:
        """A new trial, RUNNING in the storage with its params, as the backend gets it."""
        trial = self.study.ask()
        suggest_params(self.spec.space, trial)
        return TrialJob(self.spec.name, trial.number, self.uid, self.digest)

    def trial(self, number: int) -> FrozenTrial:
        """The trial as the storage holds it now (read afresh, never from a cache)."""
        storage = make_storage(self.storage_url, cached=False)
        study_id = storage.get_study_id_from_name(self.spec.name)
        return storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id, number))


@dataclass
class Kit:
    """One backend kind, and what the contract lets it choose."""

    kind: str
    storage_url: str
    make: Callable[[int], Backend]  # capacity -> a backend, not started
    parallel: bool  # ``capacity`` trials train side by side (inline trains one at a time)
    owns_workers: bool  # cancel_all itself stops the training (else the workers stop on their own)
    cancelled_state: (
        str  # what cancel_all leaves in the storage: "RUNNING", or "preempted" (FAIL so)
    )
    lost_reason: str = ""  # the reason of LOST when its worker is killed
    lost_within_s: float = 0.0
    end_within_s: float = 60.0  # how long a quick trial may take to be reported, start-up included
    execution: str = ""  # what its study files say in their execution section
    made: list[Backend] = field(default_factory=list)

    def study(self, epochs: int, tag: str) -> Study:
        name = f"contract-{tag}-{os.urandom(4).hex()}"
        return Study(
            parse_spec(study_yaml(name, self.storage_url, epochs, self.execution)), self.storage_url
        )

    def backend(self, capacity: int) -> Backend:
        made = self.make(capacity)
        self.made.append(made)
        return made

    def one_trial(self, epochs: int, tag: str) -> tuple[Backend, Study, TrialJob]:
        """A started backend of capacity 1 with one trial of ``epochs`` epochs submitted."""
        backend = self.backend(1)
        backend.start()
        study = self.study(epochs, tag)
        job = study.job()
        backend.submit(job)
        return backend, study, job


# The local backend's processes import torch before their first trial: seconds each time, so
# its tests (five backends started) are slow; inline runs in the fast loop.
@pytest.fixture(
    params=[
        "inline",
        pytest.param("local", marks=pytest.mark.slow),
        pytest.param("celery", marks=[pytest.mark.integration, pytest.mark.slow]),
    ]
)
def kit(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Kit]:
    # read by the workers when they build the model
    monkeypatch.setenv("SLOW_MODEL_SLEEP_S", str(SLEEP_S))
    kind = request.param
    if kind == "inline":
        # the fastest storage (tests/coordinator runs inline on SQLite)
        url = str(tmp_path / "study.journal")
        made = Kit(
            kind,
            url,
            lambda capacity: InlineBackend(url, capacity),
            parallel=False,
            owns_workers=True,
            cancelled_state="RUNNING",
            end_within_s=30,
        )
    elif kind == "local":
        url = f"sqlite:///{tmp_path / 'study.db'}"
        made = Kit(
            kind,
            url,
            lambda capacity: LocalBackend(url, n_workers=capacity, threads_per_worker=1),
            parallel=True,
            owns_workers=True,
            cancelled_state=PREEMPTED,
            lost_reason=LOCAL_LOST,
            lost_within_s=3,
            end_within_s=60,
        )
    else:
        made = _celery_kit(request)
    try:
        yield made
    finally:
        for backend in made.made:  # close is safe twice: the tests close what they finished with
            backend.close()


def _celery_kit(request: pytest.FixtureRequest) -> Kit:
    from automl.backends.celery import CeleryBackend

    url, broker = request.getfixturevalue("postgres_url"), request.getfixturevalue("broker_url")
    queue = f"q-{os.urandom(5).hex()}"
    pool: WorkerPool = request.getfixturevalue("_celery_pool")

    def make(capacity: int) -> Backend:
        if pool.process is None:  # as many worker processes as the first backend's capacity
            pool.start(url, broker, queue, concurrency=capacity)
        return CeleryBackend(url, broker, queue, capacity)

    # A lost worker shows within two leases and one read-back (at most one lease apart).
    return Kit("celery", url, make, parallel=True, owns_workers=False, cancelled_state="RUNNING",
               lost_reason=CELERY_LOST, lost_within_s=3 * LEASE_S + 2, end_within_s=90,
               execution=f"backend: celery, queue: {queue}, ")  # fmt: skip


@pytest.fixture
def _celery_pool(tmp_path: Path) -> Iterator[WorkerPool]:
    pool = WorkerPool(tmp_path / "worker.log")
    try:
        yield pool
    finally:
        pool.stop()


# -- helpers --------------------------------------------------------------------------------------


def collect(backend: Backend, numbers: list[int], within_s: float) -> list[TrialEvent]:
    """Wait, as the coordinator does, until every trial in ``numbers`` has an event; all events."""
    events: list[TrialEvent] = []
    deadline = time.monotonic() + within_s
    while {e.trial_number for e in events} < set(numbers):
        assert time.monotonic() < deadline, (
            "no event for trials "
            f"{sorted(set(numbers) - {e.trial_number for e in events})} within {within_s:.0f} s"
        )
        events += backend.wait(timeout_s=0.5)
    return events


def training(study: Study, number: int, within_s: float = 90.0) -> FrozenTrial:
    """Block until trial ``number`` has trained an epoch in a worker; the trial then."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        trial = study.trial(number)
        assert trial.state == TrialState.RUNNING, (
            f"trial {number} ended ({trial.state.name}) before the test got to it"
        )
        if PID in trial.user_attrs and trial.last_step:
            return trial
        time.sleep(0.05)
    raise AssertionError(f"trial {number} did not train an epoch within {within_s:.0f} s")


def max_overlap(trials: list[FrozenTrial]) -> int:
    """The most trials that trained at one moment, from when each started training (its end less
    its measured duration, which leaves out its own bookkeeping) to when it was told ended."""
    edges = []
    for t in trials:
        assert t.datetime_complete is not None
        ended = t.datetime_complete
        edges += [(ended - timedelta(seconds=float(t.user_attrs[DURATION_S])), 1), (ended, -1)]
    most = now = 0
    for _, step in sorted(edges):  # at a tie an end sorts first: back-to-back is not overlap
        now += step
        most = max(most, now)
    return most


# -- the contract -------------------------------------------------------------------------------


def test_a_submitted_trial_ends_and_wait_reports_it_once(kit: Kit) -> None:
    backend, quick, job = kit.one_trial(QUICK_EPOCHS, "ends")
    events = collect(backend, [job.trial_number], kit.end_within_s)
    assert [(e.kind, e.trial_number) for e in events] == [(EventKind.ENDED, job.trial_number)], (
        "one event, ENDED, for the one trial submitted"
    )
    told = quick.trial(job.trial_number)
    assert told.state == TrialState.COMPLETE, (
        f"the worker told the storage: {told.user_attrs.get(FAIL_REASON)}"
    )
    assert sorted(told.intermediate_values) == list(range(1, QUICK_EPOCHS + 1)), (
        "one report per epoch"
    )
    assert (told.user_attrs[PID] == os.getpid()) == (kit.kind == "inline"), (
        "trained where the backend runs trials"
    )
    started = time.monotonic()
    assert backend.wait(timeout_s=2.0) == [], "an ended trial is not reported again"
    assert time.monotonic() - started < 1.0, "with nothing in flight, wait returns at once"


def test_never_more_than_capacity_trials_train_at_once(kit: Kit) -> None:
    capacity, total = 2, 4
    backend = kit.backend(capacity)
    backend.start()
    quick = kit.study(QUICK_EPOCHS, "capacity")
    submitted: list[int] = []
    ended: list[int] = []
    deadline = time.monotonic() + kit.end_within_s + 30
    while len(ended) < total:
        # as the coordinator
        while len(submitted) - len(ended) < capacity and len(submitted) < total:
            job = quick.job()
            backend.submit(job)
            submitted.append(job.trial_number)
        assert time.monotonic() < deadline, f"only trials {ended} of {submitted} ended"
        for event in backend.wait(timeout_s=0.5):
            assert event.kind == EventKind.ENDED, (
                f"trial {event.trial_number} {event.kind.value}: {event.reason}"
            )
            assert event.trial_number in submitted and event.trial_number not in ended, (
                f"trial {event.trial_number} reported twice, or never submitted"
            )
            ended.append(event.trial_number)
    assert sorted(ended) == sorted(submitted)
    trials = [quick.trial(n) for n in submitted]
    assert [t.state for t in trials] == [TrialState.COMPLETE] * total, [
        t.user_attrs.get(FAIL_REASON) for t in trials
    ]
    most = max_overlap(trials)
    assert most <= capacity, f"{most} trials trained at once on a backend of capacity {capacity}"
    if kit.parallel:  # a capacity it does not use is no capacity
        assert most == capacity, f"capacity {capacity}, but at most {most} trial(s) trained at once"
    else:
        assert most == 1, "the inline backend trains one trial at a time"


def test_wait_returns_within_its_timeout_while_a_trial_trains(kit: Kit) -> None:
    backend, long, job = kit.one_trial(LONG_EPOCHS, "wait")
    training(long, job.trial_number)
    for timeout_s in (0.1, 0.5):
        started = time.monotonic()
        events = backend.wait(timeout_s=timeout_s)
        took = time.monotonic() - started
        assert events == [], "the trial still trains: nothing to report"
        assert took <= timeout_s + MARGIN_S, (
            f"wait({timeout_s}) took {took:.2f} s while a trial trained"
        )
    assert long.trial(job.trial_number).state == TrialState.RUNNING
    assert backend.cancel_all() == [job.trial_number]


def test_cancel_all_stops_a_training_trial(kit: Kit) -> None:
    backend, long, job = kit.one_trial(LONG_EPOCHS, "cancel")
    training(long, job.trial_number)
    started = time.monotonic()
    assert backend.cancel_all() == [job.trial_number], (
        "cancel_all returns the numbers of the trials it stopped"
    )
    assert time.monotonic() - started < 15, "a trial stops at its next epoch, not at its end"
    cancelled = long.trial(job.trial_number)
    if kit.cancelled_state == PREEMPTED:  # its worker checkpointed it and recorded it stopped
        assert (
            cancelled.state == TrialState.FAIL and cancelled.user_attrs[FAIL_REASON] == PREEMPTED
        ), (
            cancelled.state,
            cancelled.user_attrs.get(FAIL_REASON),
        )
    else:  # left for the coordinator to fail as interrupted
        assert cancelled.state == TrialState.RUNNING, cancelled.state
    assert backend.wait(timeout_s=0.5) == [], "no event follows for a cancelled trial"
    if kit.owns_workers:
        time.sleep(0.5)  # several epochs' worth
        assert long.trial(job.trial_number).last_step == cancelled.last_step, (
            "it trained on after cancel_all returned"
        )
        return
    # A worker the backend does not own stops once the coordinator failed the trial: its only
    # worker process is then free for the next trial, long before the cancelled one would end.
    assert fail_trial(long.study, cancelled, "interrupted", FailKind.INTERRUPTED)
    quick = kit.study(QUICK_EPOCHS, "after-cancel")
    after = kit.backend(1)
    after.start()
    next_job = quick.job()
    after.submit(next_job)
    [event] = collect(after, [next_job.trial_number], within_s=30)
    assert (
        event.kind == EventKind.ENDED
        and quick.trial(next_job.trial_number).state == TrialState.COMPLETE
    )


def test_close_twice_is_harmless(kit: Kit) -> None:
    never_started = kit.backend(1)
    never_started.close()
    never_started.close()
    backend = kit.backend(2)
    backend.start()
    quick = kit.study(QUICK_EPOCHS, "close")
    job = quick.job()
    backend.submit(job)
    collect(backend, [job.trial_number], kit.end_within_s)
    backend.close()
    backend.close()
    if kit.kind == "local":
        import multiprocessing

        assert not [
            p for p in multiprocessing.active_children() if p.name.startswith("automl-worker")
        ], "close left worker processes behind"
    if kit.kind == "inline":
        assert not [t for t in threading.enumerate() if t.name.startswith("automl-inline")], (
            "close left its thread"
        )


def test_a_worker_killed_mid_trial_is_reported_lost(kit: Kit) -> None:
    if kit.kind == "inline":
        pytest.skip("the inline backend's worker is this very process")
    backend, long, job = kit.one_trial(LONG_EPOCHS, "kill")
    victim = training(long, job.trial_number)
    os.kill(int(victim.user_attrs[PID]), signal.SIGKILL)
    killed_at = time.monotonic()
    events = collect(backend, [job.trial_number], within_s=kit.lost_within_s + 1)
    noticed_s = time.monotonic() - killed_at
    assert [(e.kind, e.trial_number, e.reason) for e in events] == [
        (EventKind.LOST, job.trial_number, kit.lost_reason)
    ]
    assert noticed_s <= kit.lost_within_s, f"the dead worker was noticed after {noticed_s:.1f} s"
    lost = long.trial(job.trial_number)
    assert lost.state == TrialState.RUNNING, "the coordinator, not the backend, fails a lost trial"
    # as the coordinator does
    assert fail_trial(long.study, lost, events[0].reason or "", FailKind.LOST)
    # The backend runs trials again: a new worker process took the dead one's place.
    quick = kit.study(QUICK_EPOCHS, "after-kill")
    next_job = quick.job()
    backend.submit(next_job)
    [event] = collect(backend, [next_job.trial_number], kit.end_within_s)
    assert (
        event.kind == EventKind.ENDED
        and quick.trial(next_job.trial_number).state == TrialState.COMPLETE
    )
    assert quick.trial(next_job.trial_number).user_attrs[PID] != victim.user_attrs[PID]


def test_the_inline_backend_raises_what_escapes_the_worker_code_in_the_callers_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As when the trial trained in the caller's thread: the coordinator stops with the error.
    from automl.runner import execute as runner

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("the storage is gone for good")

    monkeypatch.setattr(runner, "execute_trial", broken)
    url = str(tmp_path / "study.journal")
    quick = Study(parse_spec(study_yaml("escapes", url, QUICK_EPOCHS)), url)
    backend = InlineBackend(url)
    backend.start()
    job = quick.job()
    backend.submit(job)
    with pytest.raises(RuntimeError, match="the storage is gone for good"):
        collect(backend, [job.trial_number], within_s=10)
    backend.close()
