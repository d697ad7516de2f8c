"""The celery backend end to end: real Redis broker, real storages, real worker processes."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from datetime import datetime

import pytest
import redis
from kombu import Connection, Producer
from optuna.trial import FrozenTrial, TrialState

from automl.backends.factory import create_backend
from automl.coordinator import Coordinator
from automl.search import COUNTED_STATES, make_storage, open_study
from automl.search.study import UID_ATTR
from automl.studyfile import StudySpec
from automl.studyfile.space import suggest_params
from automl.worker.celery_app import TASK_NAME, create_app
from automl.worker.lease import claim_key
from automl.worker.message import TrialJob
from tests.integration.conftest import LEASE_S, WorkerPool, celery_spec, wait_until

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("storage", ["postgres_url", "journal_redis_url"])
def test_study_of_12_trials_on_two_workers(
    storage: str,
    request: pytest.FixtureRequest,
    broker_url: str,
    queue: str,
    study_name: str,
    workers: WorkerPool,
) -> None:
    storage_url = request.getfixturevalue(storage)
    spec = celery_spec(study_name, storage_url, queue, broker_url, n_trials=12, parallelism=2)
    workers.start(storage_url, broker_url, queue, concurrency=2)
    study = open_study(spec, storage_url)
    Coordinator(spec, study, create_backend(spec, storage_url)).run()
    trials = study.get_trials()
    assert len([t for t in trials if t.state in COUNTED_STATES]) == 12 == len(trials)
    assert {t.user_attrs["slot"] for t in trials} == {"cpu:0", "cpu:1"}
    assert os.getpid() not in {t.user_attrs["pid"] for t in trials}  # trained in the workers


EPOCHS = 150  # of the killed-worker test's trials


def _kill_first_running_trial(
    storage_url: str, study_name: str, killed: list[tuple[int, datetime]], stop: threading.Event
) -> None:
    """Wait until a worker process has trained a few epochs of a trial, but fewer than half
    (EPOCHS), then SIGKILL it: the half still to come keeps the trial from ending between the
    read and the kill on a loaded machine."""
    storage = make_storage(storage_url, cached=False)
    study_id = storage.get_study_id_from_name(study_name)
    while not stop.is_set():
        for t in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            if "pid" in t.user_attrs and t.last_step is not None and 2 <= t.last_step < EPOCHS // 2:
                os.kill(t.user_attrs["pid"], signal.SIGKILL)
                killed.append((t.number, datetime.now()))
                return
        time.sleep(0.05)


def test_killed_worker_trial_is_failed_and_retried(
    postgres_url: str, broker_url: str, queue: str, study_name: str, workers: WorkerPool
) -> None:
    # Long enough trials that the killer finds one mid-training.
    spec = celery_spec(
        study_name,
        postgres_url,
        queue,
        broker_url,
        n_trials=4,
        parallelism=2,
        epochs=EPOCHS,
        pruner="none",
    )
    workers.start(postgres_url, broker_url, queue, concurrency=2)
    study = open_study(spec, postgres_url)
    killed: list[tuple[int, datetime]] = []
    stop = threading.Event()
    killer = threading.Thread(
        target=_kill_first_running_trial, args=(postgres_url, spec.name, killed, stop)
    )
    killer.start()
    started = time.monotonic()
    try:
        Coordinator(spec, study, create_backend(spec, postgres_url)).run()
    finally:
        stop.set()
        killer.join()
    assert len(killed) == 1
    trials = study.get_trials()
    number, killed_at = killed[0]
    victim = trials[number]
    assert victim.state == TrialState.FAIL
    assert victim.user_attrs["fail_reason"] == "worker lost: lease expired"
    assert victim.datetime_complete is not None
    assert (victim.datetime_complete - killed_at).total_seconds() <= 2 * LEASE_S  # noticed in time
    retries = [t for t in trials if t.user_attrs.get("retry_of") == victim.number]
    assert len(retries) == 1
    assert retries[0].params == victim.params and retries[0].user_attrs["attempt"] == 1
    assert len([t for t in trials if t.state in COUNTED_STATES]) == 4
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert "restarting it" in workers.text()  # the supervisor replaced the killed process
    assert time.monotonic() - started < 120


def _asked_trial(spec: StudySpec, storage_url: str) -> int:
    """A RUNNING trial with sampled params, as the coordinator leaves it before dispatching."""
    study = open_study(spec, storage_url)
    trial = study.ask()
    suggest_params(spec.space, trial)
    return trial.number


def _uid(spec: StudySpec, storage_url: str) -> str:
    return str(open_study(spec, storage_url).user_attrs[UID_ATTR])


def _trial(storage_url: str, study_name: str, number: int) -> FrozenTrial:
    storage = make_storage(storage_url, cached=False)
    study_id = storage.get_study_id_from_name(study_name)
    return storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id, number))


def test_a_message_delivered_twice_trains_once(
    postgres_url: str, broker_url: str, queue: str, study_name: str, workers: WorkerPool
) -> None:
    spec = celery_spec(study_name, postgres_url, queue, broker_url, epochs=40, pruner="none")
    workers.start(postgres_url, broker_url, queue, concurrency=2)
    number, uid = _asked_trial(spec, postgres_url), _uid(spec, postgres_url)
    app = create_app(broker_url, [queue])
    # Both idle workers take one copy at once: one in the message's shape of today, one in the
    # shape coordinators sent before it was versioned (read still, for trials already queued).
    app.send_task(TASK_NAME, args=[TrialJob(study_name, number, uid).to_wire()], queue=queue)
    app.send_task(TASK_NAME, args=[study_name, number, uid], queue=queue)
    wait_until(
        lambda: _trial(postgres_url, study_name, number).state.is_finished(),
        60,
        "the trial to finish",
    )
    workers.wait_for(
        lambda text: text.count("automl.run_trial[") >= 4, 30, "both deliveries handled"
    )
    trial = _trial(postgres_url, study_name, number)
    assert trial.state == TrialState.COMPLETE
    assert len(trial.intermediate_values) == 40  # one value per epoch, written once
    claim = json.loads(redis.Redis.from_url(broker_url).get(claim_key(uid, number)))
    assert claim["owner"].split(":")[1] == str(trial.user_attrs["pid"])  # the claimer trained it
    log = workers.text()
    assert f"trial {number} of {study_name}: claimed by another delivery" in log
    assert log.count(f"trial {number} of {study_name} ended COMPLETE") == 1


def test_a_pickled_message_is_refused(
    postgres_url: str, broker_url: str, queue: str, study_name: str, workers: WorkerPool
) -> None:
    spec = celery_spec(study_name, postgres_url, queue, broker_url)
    workers.start(postgres_url, broker_url, queue, concurrency=1)
    pickled, plain = _asked_trial(spec, postgres_url), _asked_trial(spec, postgres_url)
    uid = _uid(spec, postgres_url)
    app = create_app(broker_url, [queue])
    # A well-formed Celery message for the real task, only serialised with pickle.
    message = app.amqp.as_task_v2(
        str(uuid.uuid4()), TASK_NAME, args=[study_name, pickled, uid], kwargs={}
    )
    with Connection(broker_url) as conn:
        Producer(conn).publish(
            message.body, exchange="", routing_key=queue, serializer="pickle",
            headers=message.headers, **message.properties,
        )  # fmt: skip
    # One worker process, one queue: once the JSON message sent after it ran, the pickled one was
    # seen.
    app.send_task(TASK_NAME, args=[study_name, plain, uid], queue=queue)
    wait_until(
        lambda: _trial(postgres_url, study_name, plain).state.is_finished(),
        60,
        "the JSON message's trial",
    )
    refused = _trial(postgres_url, study_name, pickled)
    assert (
        refused.state == TrialState.RUNNING
        and "pid" not in refused.user_attrs
        and not refused.intermediate_values
    )
    assert "Refusing to deserialize untrusted content of type pickle" in workers.text()
