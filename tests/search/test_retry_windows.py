"""The storage retry window belongs to each storage object, not to the process: two storages of
one URL wait each for its own window, and a coordinator and a worker in one process keep theirs
whatever order they were set up in (there is no process-wide window to leak or to reset)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from automl.backends import InlineBackend
from automl.coordinator import Coordinator
from automl.errors import StorageError
from automl.search import internals, open_study, retry
from automl.search import storage as storage_module
from automl.search.storage import make_storage
from automl.settings import Settings
from automl.studyfile import StudySpec
from automl.worker import celery_app, tasks


class Clock:
    """Stands in for retry.py's ``time``: sleeping moves it on, nothing waits for real."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Lost:
    """An inner storage whose connection is gone and stays gone."""

    def get_all_studies(self) -> list[object]:
        raise ConnectionError("connection refused")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(retry, "time", fake)
    monkeypatch.setattr(storage_module, "_cache", {})  # this test's storages only, dropped after
    return fake


def _waited(storage: object, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> tuple[float, str]:
    """How long ``storage`` retried a connection that never comes back, and what it said then."""
    monkeypatch.setattr(storage, "inner", Lost())
    monkeypatch.setattr(storage, "_sleep", clock.sleep)
    started = clock.now
    with pytest.raises(StorageError) as info:
        storage.get_all_studies()  # type: ignore[attr-defined]
    return clock.now - started, info.value.message


def test_two_storages_of_one_url_retry_each_for_its_own_window(
    journal_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    short, long = make_storage(journal_url, retry_s=60), make_storage(journal_url, retry_s=600)
    assert short is not long
    assert make_storage(journal_url, retry_s=60) is short  # one object per URL and window
    assert make_storage(journal_url) is make_storage(journal_url, retry_s=Settings.storage_retry_s)
    for storage, window in ((short, 60), (long, 600), (short, 60)):  # the long one changed nothing
        waited, message = _waited(storage, clock, monkeypatch)
        assert waited == pytest.approx(window)
        assert f"did not come back within {window} s" in message


def test_a_coordinator_and_a_worker_in_one_process_keep_their_own_windows(
    journal_url: str,
    make_spec: Callable[..., StudySpec],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Once a worker process' configure() and a coordinator's run() each set a process-wide
    # window (the run put its own back after); now neither touches the other's storages.
    monkeypatch.setattr(celery_app, "_worker", None)
    worker_window, coordinator_window = 1800.0, 7.0
    celery_app.configure(
        tasks.WorkerSettings(journal_url, "redis://127.0.0.1:1/0", "cpu:0", 30.0, 3, worker_window)
    )
    worker = celery_app._worker  # noqa: SLF001
    assert worker is not None and worker.host.storage_retry_s == worker_window

    settings = Settings(storage_retry_s=coordinator_window)
    spec = make_spec(journal_url, n_trials=2, epochs=1, sampler="random", pruner="none")
    study = open_study(spec, journal_url, retry_s=settings.storage_retry_s)
    backend = InlineBackend(journal_url, settings=settings)
    Coordinator(spec, study, backend, settings=settings).run()
    assert len(study.trials) == 2
    ran = backend._host  # noqa: SLF001 - the inline trials' host: the coordinator's window
    assert ran.storage_retry_s == coordinator_window
    [(_raw, trial_study, _spec)] = ran.studies.values()
    assert internals.study_storage(trial_study) is internals.study_storage(study)

    coordinators = internals.study_storage(study)
    workers = worker._storage()  # noqa: SLF001
    commands = make_storage(journal_url)  # any other command of this process: the default
    assert len({id(coordinators), id(workers), id(commands)}) == 3
    assert _waited(workers, clock, monkeypatch)[0] == pytest.approx(worker_window)
    assert _waited(coordinators, clock, monkeypatch)[0] == pytest.approx(coordinator_window)
    assert _waited(commands, clock, monkeypatch)[0] == pytest.approx(Settings.storage_retry_s)

    celery_app.configure(
        tasks.WorkerSettings(journal_url, "redis://127.0.0.1:1/0", "cpu:1", 30.0, 3, 60.0)
    )
    assert internals.study_storage(study).window_s == coordinator_window  # type: ignore[attr-defined]
    assert make_storage(journal_url).window_s == Settings.storage_retry_s  # type: ignore[attr-defined]
