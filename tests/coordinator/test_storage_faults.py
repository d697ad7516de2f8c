"""The storage goes away mid-study, for real: a private Redis server is killed and restarted."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from optuna.trial import TrialState

from automl.backends import InlineBackend
from automl.coordinator import Coordinator
from automl.errors import StorageError
from automl.search import COUNTED_STATES, make_storage, open_study
from automl.settings import Settings
from automl.studyfile import parse_spec
from tests.conftest import tiny_yaml
from tests.redis_server import RedisServer
from tests.waiting import wait_for_training

# A redis-server of the test's own, killed for real; each study trains for seconds.
pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.proc and server.proc.poll() is None:
        server.kill()


def test_study_survives_the_storage_going_away_and_coming_back(
    redis_server: RedisServer, study_name: str
) -> None:
    spec = parse_spec(tiny_yaml(study_name, redis_server.url, n_trials=4, epochs=30, pruner="none"))
    settings = Settings(storage_retry_s=60)  # the coordinator's window, and its inline trials'
    study = open_study(spec, redis_server.url, retry_s=settings.storage_retry_s)
    outage: list[float] = []

    def outage_mid_trial() -> None:
        wait_for_training(redis_server.url, study_name)
        redis_server.kill()
        started = time.monotonic()
        time.sleep(3)
        redis_server.start()
        outage.append(time.monotonic() - started)

    thread = threading.Thread(target=outage_mid_trial)
    thread.start()
    Coordinator(
        spec, study, InlineBackend(redis_server.url, settings=settings), settings=settings
    ).run()
    thread.join()
    assert outage and outage[0] >= 3
    trials = make_storage(redis_server.url, cached=False).get_all_trials(study._study_id)  # noqa: SLF001
    assert len([t for t in trials if t.state in COUNTED_STATES]) == 4
    assert not [t for t in trials if t.state == TrialState.RUNNING]


def test_a_storage_that_stays_away_gives_one_clear_error(
    redis_server: RedisServer, study_name: str
) -> None:
    spec = parse_spec(
        tiny_yaml(study_name, redis_server.url, n_trials=4, epochs=300, pruner="none")
    )
    settings = Settings(storage_retry_s=2)
    study = open_study(spec, redis_server.url, retry_s=settings.storage_retry_s)

    def kill_mid_trial() -> None:
        wait_for_training(redis_server.url, study_name)
        redis_server.kill()  # and it stays away

    threading.Thread(target=kill_mid_trial, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(StorageError) as info:
        Coordinator(
            spec, study, InlineBackend(redis_server.url, settings=settings), settings=settings
        ).run()
    line = info.value.one_line()
    assert re.search(
        r"lost the storage redis://127.0.0.1:\d+/0 and it did not come back within 2 s", line
    )
    assert "run the same command again" in line
    assert time.monotonic() - started < 30
