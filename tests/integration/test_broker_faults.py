"""The broker goes away mid-study, for real: a private Redis broker is killed and restarted
empty (its queue and claims lost). The coordinator rides it out and sends lost messages again."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from automl.backends.factory import create_backend
from automl.coordinator import Coordinator
from automl.errors import AutoMLError
from automl.search import COUNTED_STATES, open_study
from automl.settings import Settings
from tests.integration.conftest import WorkerPool, celery_spec
from tests.redis_server import RedisServer
from tests.waiting import wait_for_training

pytestmark = pytest.mark.integration


def test_broker_restart_mid_study_loses_no_trial_and_trains_none_twice(
    tmp_path: Path,
    study_name: str,
    queue: str,
    workers: WorkerPool,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = RedisServer(tmp_path, persist=False)  # a restart loses every queued message
    broker.start()
    storage_url = str(tmp_path / "study.journal")
    # One worker process, two trials in flight: one trains, one waits in the queue.
    spec = celery_spec(
        study_name,
        storage_url,
        queue,
        broker.url,
        n_trials=4,
        parallelism=2,
        epochs=150,
        pruner="none",
    )
    workers.start(storage_url, broker.url, queue, concurrency=1)
    study = open_study(spec, storage_url)

    training: list[int] = []

    def restart_broker_mid_trial() -> None:
        training.extend(t.number for t in wait_for_training(storage_url, study_name))
        broker.kill()
        time.sleep(2)
        broker.start()

    thread = threading.Thread(target=restart_broker_mid_trial)
    thread.start()
    caplog.set_level("WARNING", logger="automl.backends.celery")
    try:
        Coordinator(spec, study, create_backend(spec, storage_url)).run()
    finally:
        thread.join()
        broker.kill()
    trials = study.get_trials()
    assert len([t for t in trials if t.state in COUNTED_STATES]) == 4
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    for t in trials:
        if t.state == TrialState.COMPLETE:
            assert len(t.intermediate_values) == 150  # trained once, start to end
    # The queued trial's message was lost and sent again; the training one kept its claim.
    resent = [
        int(r.getMessage().split()[1].rstrip(":"))
        for r in caplog.records
        if "sending it again" in r.getMessage()
    ]
    assert resent and not set(resent) & set(training), (resent, training)


def test_broker_that_stays_away_gives_one_clear_error(
    tmp_path: Path, study_name: str, queue: str
) -> None:
    broker = RedisServer(tmp_path, persist=False)
    broker.start()
    storage_url = str(tmp_path / "study.journal")
    spec = celery_spec(study_name, storage_url, queue, broker.url, n_trials=2)
    study = open_study(spec, storage_url)
    threading.Timer(
        1.0, broker.kill
    ).start()  # no worker: the trials wait in the queue, then it goes
    started = time.monotonic()
    with pytest.raises(
        AutoMLError,
        match=r"lost the broker redis://127.0.0.1:\d+/0 and it did not come back within 2 s",
    ):
        Coordinator(
            spec, study, create_backend(spec, storage_url, Settings(broker_retry_s=2))
        ).run()
    assert time.monotonic() - started < 60


def test_unreachable_broker_at_start_is_one_clear_error(
    tmp_path: Path, study_name: str, queue: str
) -> None:
    broker = RedisServer(tmp_path, persist=False)  # picks a free port, never started
    storage_url = str(tmp_path / "study.journal")
    spec = celery_spec(study_name, storage_url, queue, broker.url, n_trials=1)
    study = open_study(spec, storage_url)
    with pytest.raises(AutoMLError, match="cannot reach the broker"):
        Coordinator(spec, study, create_backend(spec, storage_url)).run()
