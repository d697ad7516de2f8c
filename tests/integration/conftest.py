"""Real Celery workers for the integration tests: ``python -m automl worker`` as subprocesses.

The broker is the machine's Redis, database 14 (``AUTOML_TEST_BROKER`` points elsewhere),
emptied once per session (the ``broker_url`` fixture, in tests/conftest.py with the other
service fixtures); every test uses its own queue, so tests never see each other's messages.
Leases are short (``--lease-s``) so that a dead worker shows within seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from automl.backends.factory import create_backend
from automl.coordinator import Coordinator
from automl.search import open_study
from automl.settings import Settings
from automl.studyfile import StudySpec, parse_spec
from tests.conftest import tiny_yaml

LEASE_S = 2.0
AUTOML = [sys.executable, "-m", "automl"]
# The service fixtures (broker_url, postgres_url, journal_redis_url) are in tests/conftest.py.


@pytest.fixture
def queue() -> str:
    return f"q-{uuid.uuid4().hex[:10]}"


def celery_yaml(
    name: str,
    storage: str,
    queue: str,
    broker: str | None = None,
    slow: bool = False,
    **overrides: object,
) -> str:
    """A tiny study (tests/conftest.py) that runs on the celery backend, on ``queue``."""
    execution = f"execution: {{backend: celery, queue: {queue}, "
    if broker:
        execution += f"broker: '{broker}', "
    # No early stopping (automl adds it when left out): a trial runs exactly its epochs, so
    # the tests can size how long one trains.
    text = tiny_yaml(name, storage, **overrides).replace(
        "batch_size: 64}", "batch_size: 64, early_stopping: null}"
    )
    if slow:  # trials that last as long on any machine: tests/slow_model.py
        text = text.replace(
            "trainer:", "model: {family: 'python:tests.slow_model:build'}\ntrainer:"
        )
    return text.replace("execution: {", execution)


def celery_spec(
    name: str, storage: str, queue: str, broker: str, slow: bool = False, **overrides: object
) -> StudySpec:
    return parse_spec(celery_yaml(name, storage, queue, broker, slow, **overrides))


class WorkerPool:
    """``automl worker`` in its own session (so the test can kill the whole tree), logging to a
    file."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(
        self, storage: str, broker: str, queue: str, concurrency: int = 2, *extra: str
    ) -> WorkerPool:
        command = [
            *AUTOML, "worker", "--broker", broker, "--storage", storage, "--queues", queue,
            "--gpus", "all", "--concurrency", str(concurrency), "--lease-s", str(LEASE_S), *extra,
        ]  # fmt: skip
        env = dict(os.environ, AUTOML_LOG_LEVEL="INFO")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.wait_for(
            lambda text: text.count(" ready on queues ") >= concurrency,
            90,
            f"{concurrency} worker processes ready",
        )
        return self

    def text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for(self, predicate: Callable[[str], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(self.text()):
                return
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; worker log:\n{self.text()[-4000:]}")

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # the supervisor and its children, all ours
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        self.process = None


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[WorkerPool]:
    pool = WorkerPool(tmp_path / "worker.log")
    try:
        yield pool
    finally:
        pool.stop()


def wait_until(
    predicate: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}")


def run_in_thread(
    spec: StudySpec, storage_url: str, settings: Settings | None = None
) -> tuple[threading.Thread, list[BaseException]]:
    """The coordinator in a thread, so that a test can bound a run that would hang forever."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            backend = create_backend(spec, storage_url, settings)
            retry_s = (
                settings or Settings()
            ).storage_retry_s  # the coordinator's window, as automl run opens it
            Coordinator(
                spec, open_study(spec, storage_url, retry_s=retry_s), backend, settings=settings
            ).run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def finish(thread: threading.Thread, errors: list[BaseException], timeout_s: float) -> None:
    thread.join(timeout_s)
    assert not thread.is_alive(), f"the coordinator did not finish within {timeout_s:.0f} s"
    if errors:
        raise errors[0]


def when_checkpointed(
    url: str, name: str, epoch: int, then: Callable[[Any], None]
) -> threading.Thread:
    """From a thread: once trial 0 of study ``name`` has checkpointed ``epoch``, call
    ``then(trial)`` with that trial as the storage holds it."""
    import optuna

    from automl.search import make_storage

    def trials() -> list[Any]:
        return optuna.load_study(study_name=name, storage=make_storage(url, cached=False)).trials

    def watch() -> None:
        def reached() -> bool:
            try:
                found = trials()
            except KeyError:  # the study is not created yet
                return False
            return bool(found) and found[0].user_attrs.get("checkpoint_epoch", 0) >= epoch

        wait_until(reached, 120, f"trial 0 of {name} to checkpoint epoch {epoch}", every_s=0.02)
        then(trials()[0])

    thread = threading.Thread(target=watch)
    thread.start()
    return thread
