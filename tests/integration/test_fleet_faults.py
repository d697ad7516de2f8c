"""Fleet faults, for real: outages longer than a lease, re-created studies, lost messages,
workers on the wrong storage, the timeout, and leases of different lengths.

Every test runs real ``automl worker`` processes against a real Redis broker (the machine's,
or a private redis-server the test kills and restarts) and a real storage.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
import redis
from optuna.trial import TrialState

from automl.errors import AutoMLError
from automl.search import make_storage, open_study
from automl.search.study import UID_ATTR
from automl.settings import Settings
from automl.studyfile import StudySpec
from tests.integration.conftest import LEASE_S, WorkerPool, celery_spec, finish, run_in_thread
from tests.redis_server import RedisServer
from tests.waiting import wait_for_training

pytestmark = pytest.mark.integration


def _run_through(
    spec: StudySpec,
    storage_url: str,
    fault: Callable[[], None],
    timeout_s: float = 240,
    settings: Settings | None = None,
) -> None:
    """Run the study to its end; once a trial trains, ``fault`` strikes (from a thread)."""

    def strike() -> None:
        wait_for_training(storage_url, spec.name)
        fault()

    chaos = threading.Thread(target=strike)
    chaos.start()
    try:
        thread, errors = run_in_thread(spec, storage_url, settings)
        finish(thread, errors, timeout_s)
    finally:
        chaos.join()


def _trained(workers: WorkerPool, study_name: str, number: int) -> int:
    """How many times the workers' log says they started training this trial."""
    return workers.text().count(f"training trial {number} of {study_name} on ")


def test_broker_outage_longer_than_the_lease_fails_no_trial(
    tmp_path: Path, study_name: str, queue: str, workers: WorkerPool
) -> None:
    # Restarted with its append-only file, as docker-compose.yml runs it: the claims come back,
    # the leases (2 s) expired during the 8 s outage while the worker went on training.
    broker = RedisServer(tmp_path, persist=True)
    broker.start()
    storage_url = str(tmp_path / "study.journal")
    spec = celery_spec(
        study_name,
        storage_url,
        queue,
        broker.url,
        slow=True,
        n_trials=1,
        epochs=400,
        pruner="none",
        retries=0,
    )
    workers.start(storage_url, broker.url, queue, concurrency=1)

    def outage() -> None:
        broker.kill()
        time.sleep(4 * LEASE_S)
        broker.start()

    try:
        _run_through(spec, storage_url, outage)
    finally:
        broker.kill()
    [trial] = optuna.load_study(
        study_name=study_name, storage=make_storage(storage_url, cached=False)
    ).trials
    assert trial.state == TrialState.COMPLETE, trial.user_attrs.get("fail_reason")
    assert len(trial.intermediate_values) == 400
    assert "the broker is back; lease renewed" in workers.text()


def test_study_deleted_and_created_again_under_the_same_name_runs(
    postgres_url: str, broker_url: str, queue: str, study_name: str, workers: WorkerPool
) -> None:
    workers.start(postgres_url, broker_url, queue, concurrency=2)
    for _ in range(2):  # the first run leaves claims of trials 0..2 on the broker for a day
        spec = celery_spec(
            study_name,
            postgres_url,
            queue,
            broker_url,
            n_trials="3\n  max_failed_trials: 1",
            parallelism=2,
        )
        thread, errors = run_in_thread(spec, postgres_url)
        finish(thread, errors, 120)
        study = optuna.load_study(
            study_name=study_name, storage=make_storage(postgres_url, cached=False)
        )
        assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3, [
            t.user_attrs for t in study.trials
        ]
        optuna.delete_study(study_name=study_name, storage=make_storage(postgres_url, cached=False))


def test_a_worker_on_another_storage_stops_the_run_with_one_line(
    tmp_path: Path,
    postgres_url: str,
    broker_url: str,
    queue: str,
    study_name: str,
    workers: WorkerPool,
) -> None:
    elsewhere = str(tmp_path / "other.journal")
    make_storage(elsewhere)
    workers.start(elsewhere, broker_url, queue, concurrency=1)  # not the coordinator's storage
    spec = celery_spec(study_name, postgres_url, queue, broker_url, n_trials=2, parallelism=1)
    thread, errors = run_in_thread(spec, postgres_url)
    with pytest.raises(
        AutoMLError,
        match=r"worker \S+ \(cpu:0\) cannot run this study: its storage .*other.journal has "
        rf"no study '{study_name}'",
    ):
        finish(thread, errors, 60)


_THIEF = """
import os, signal, sys
from kombu import Connection
with Connection(sys.argv[1]) as conn:
    message = conn.SimpleQueue(sys.argv[2]).get(block=True, timeout=60)
    print("took", message.headers["id"], flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # dies holding the message, unacknowledged
"""


def test_a_message_taken_by_a_worker_that_died_before_claiming_is_sent_again(
    tmp_path: Path,
    postgres_url: str,
    broker_url: str,
    queue: str,
    study_name: str,
    workers: WorkerPool,
) -> None:
    thief = subprocess.Popen(
        [sys.executable, "-c", _THIEF, broker_url, queue], stdout=subprocess.PIPE, text=True
    )
    spec = celery_spec(
        study_name, postgres_url, queue, broker_url, n_trials=2, parallelism=2, pruner="none"
    )
    thread, errors = run_in_thread(spec, postgres_url)
    out, _ = thief.communicate(timeout=60)
    assert thief.returncode == -signal.SIGKILL and out.startswith("took")
    workers.start(postgres_url, broker_url, queue, concurrency=1)  # starts after the theft
    finish(thread, errors, 120)  # before: the stolen trial waited for a 7-day visibility timeout
    trials = optuna.load_study(
        study_name=study_name, storage=make_storage(postgres_url, cached=False)
    ).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert all(_trained(workers, study_name, t.number) == 1 for t in trials)


def test_timeout_withdraws_trials_still_in_the_queue(
    tmp_path: Path,
    postgres_url: str,
    broker_url: str,
    queue: str,
    study_name: str,
    workers: WorkerPool,
) -> None:
    spec = celery_spec(
        study_name, postgres_url, queue, broker_url, n_trials="3\n  timeout: 3s", parallelism=2
    )
    started = time.monotonic()
    thread, errors = run_in_thread(spec, postgres_url)  # no worker: nothing leaves the queue
    finish(thread, errors, 60)
    assert time.monotonic() - started < 30
    storage = make_storage(postgres_url, cached=False)
    trials = optuna.load_study(study_name=study_name, storage=storage).trials
    # Two sent and withdrawn from the queue, one asked ahead and never sent.
    assert [(t.state, t.user_attrs.get("fail_reason")) for t in trials] == [
        (TrialState.FAIL, "not started before the timeout")
    ] * 3
    assert not any("attempt" in t.user_attrs for t in trials)  # not retried
    # the messages reach a worker late
    workers.start(postgres_url, broker_url, queue, concurrency=1)
    workers.wait_for(
        lambda text: text.count("it is FAIL; not running it") == 2,
        60,
        "both withdrawn trials skipped",
    )
    assert all(
        "pid" not in t.user_attrs
        for t in optuna.load_study(study_name=study_name, storage=storage).trials
    )


def test_the_coordinator_uses_the_lease_the_worker_keeps(
    tmp_path: Path,
    study_name: str,
    queue: str,
    workers: WorkerPool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The workers keep 9 s leases; the coordinator's own settings say 0.5 s. A broker that
    # restarts empty loses the training trial's claim: the coordinator must wait the worker's
    # lease (its renewal puts the claim back), not its own, before it sends that trial again.
    broker = RedisServer(tmp_path, persist=False)
    broker.start()
    storage_url = str(tmp_path / "study.journal")
    spec = celery_spec(
        study_name,
        storage_url,
        queue,
        broker.url,
        slow=True,
        n_trials=1,
        epochs=150,
        pruner="none",
        retries=0,
    )
    workers.start(storage_url, broker.url, queue, 2, "--lease-s", "9")  # one trains, one is idle

    def restart() -> None:
        time.sleep(0.5)
        broker.kill()
        broker.start()

    caplog.set_level("WARNING", logger="automl.backends.celery")
    try:
        _run_through(spec, storage_url, restart, settings=Settings(lease_s=0.5))
    finally:
        broker.kill()
    [trial] = optuna.load_study(
        study_name=study_name, storage=make_storage(storage_url, cached=False)
    ).trials
    assert trial.state == TrialState.COMPLETE and len(trial.intermediate_values) == 150
    assert _trained(workers, study_name, 0) == 1
    assert not [r for r in caplog.records if "sending it again" in r.getMessage()]


def test_storage_outage_is_waited_out_by_the_fleet(
    tmp_path: Path,
    study_name: str,
    queue: str,
    broker_url: str,
    workers: WorkerPool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The storage is a Redis journal on a private server, down for 10 s while two trials train.
    # AUTOML_STORAGE_RETRY_S=3 is what automl run may take; workers wait as long as it takes,
    # and a worker that may fail once (--max-infra-failures 1) must not count the outage.
    server = RedisServer(tmp_path, persist=True)
    server.start()
    storage_url = server.url
    monkeypatch.setenv("AUTOML_STORAGE_RETRY_S", "3")
    workers.start(storage_url, broker_url, queue, 2, "--max-infra-failures", "1")
    spec = celery_spec(
        study_name,
        storage_url,
        queue,
        broker_url,
        slow=True,
        n_trials=4,
        parallelism=2,
        epochs=60,
        pruner="none",
        retries=0,
    )

    def outage() -> None:
        server.kill()
        time.sleep(10)
        server.start()

    try:
        # the coordinator's own
        _run_through(spec, storage_url, outage, settings=Settings(storage_retry_s=120))
        trials = optuna.load_study(
            study_name=study_name, storage=make_storage(storage_url, cached=False)
        ).trials
        assert [t.state for t in trials] == [TrialState.COMPLETE] * 4, [
            t.user_attrs.get("fail_reason") for t in trials
        ]
        log = workers.text()
        assert "stops taking work" not in log and "infrastructure failure" not in log
        assert "retrying for up to" in log and "is back after" in log  # they said so
        assert workers.process is not None and workers.process.poll() is None
        children = subprocess.run(
            ["ps", "--ppid", str(workers.process.pid), "-o", "pid="], capture_output=True, text=True
        )
        assert len(children.stdout.split()) == 2  # both worker processes still serve
    finally:
        server.kill()


def test_claims_of_two_same_named_studies_in_two_storages_do_not_collide(
    tmp_path: Path, broker_url: str, queue: str, study_name: str, workers: WorkerPool
) -> None:
    first, second = str(tmp_path / "a.journal"), str(tmp_path / "b.journal")
    for storage_url in (first, second):
        spec = celery_spec(
            study_name,
            storage_url,
            queue,
            broker_url,
            n_trials="2\n  max_failed_trials: 1",
            parallelism=1,
        )
        if storage_url == first:
            workers.start(first, broker_url, queue, concurrency=1)
        else:
            workers.stop()
            workers.start(second, broker_url, queue, concurrency=1)
        thread, errors = run_in_thread(spec, storage_url)
        finish(thread, errors, 120)
        trials = optuna.load_study(
            study_name=study_name, storage=make_storage(storage_url, cached=False)
        ).trials
        assert [t.state for t in trials] == [TrialState.COMPLETE] * 2, [
            t.user_attrs.get("fail_reason") for t in trials
        ]


def test_without_announcements_the_fallback_read_back_still_collects_every_trial(
    postgres_url: str,
    broker_url: str,
    queue: str,
    study_name: str,
    workers: WorkerPool,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The workers announce ends on automl:events:<uid>; this coordinator listens elsewhere, as
    # if every announcement were lost. The storage stays the record: the full read-back finds
    # each end, and the budget is exact.
    from automl.worker import notices

    monkeypatch.setattr(notices, "events_key", lambda uid: f"automl:nobody-announces-here:{uid}")
    workers.start(postgres_url, broker_url, queue, concurrency=2)
    spec = celery_spec(study_name, postgres_url, queue, broker_url, n_trials=6, parallelism=2)
    thread, errors = run_in_thread(spec, postgres_url)
    finish(thread, errors, 120)
    trials = optuna.load_study(
        study_name=study_name, storage=make_storage(postgres_url, cached=False)
    ).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    assert all(_trained(workers, study_name, t.number) == 1 for t in trials)
    announced = redis.Redis.from_url(broker_url).llen(
        f"automl:events:{open_study(spec, postgres_url).user_attrs[UID_ATTR]}"
    )
    assert announced == 6  # the workers did announce; nobody took them
