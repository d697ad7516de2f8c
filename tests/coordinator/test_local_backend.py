"""The local backend with real spawned worker processes, killed for real."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import pytest
from optuna.trial import TrialState

from automl.backends import LocalBackend
from automl.coordinator import Coordinator
from automl.search import COUNTED_STATES, make_storage, open_study
from automl.studyfile import StudySpec

# Spawned worker processes, each importing torch: seconds before the first epoch. The contract
# suite (tests/backends) runs the local backend's promises; these run whole studies on it.
pytestmark = pytest.mark.slow


def test_study_on_two_worker_processes(
    storage_url: str, make_spec: Callable[..., StudySpec]
) -> None:
    spec = make_spec(storage_url, n_trials=4, parallelism=2)
    study = open_study(spec, storage_url)
    Coordinator(spec, study, LocalBackend(storage_url, n_workers=2, threads_per_worker=1)).run()
    trials = study.get_trials()
    assert len([t for t in trials if t.state in COUNTED_STATES]) == 4 == len(trials)
    # Both processes trained: the first two trials went to the two idle slots at once.
    assert {t.user_attrs["slot"] for t in trials} == {"local:0", "local:1"}
    pids = {t.user_attrs["pid"] for t in trials}
    assert os.getpid() not in pids  # trained in the worker processes


def _kill_first_running_trial(
    storage_url: str, study_name: str, killed: list[int], stop: threading.Event, before: int
) -> None:
    """Wait until a trial runs in a worker process and has reported fewer than `before` epochs,
    then SIGKILL that process: the epochs still to come keep the trial from finishing between
    the read and the kill."""
    storage = make_storage(storage_url, cached=False)
    study_id = storage.get_study_id_from_name(study_name)
    while not stop.is_set():
        for t in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            if "pid" in t.user_attrs and t.last_step is not None and t.last_step < before:
                os.kill(t.user_attrs["pid"], signal.SIGKILL)
                killed.append(t.number)
                return
        time.sleep(0.02)


def test_killed_worker_process_is_failed_and_retried_with_the_same_params(
    sqlite_url: str, make_spec: Callable[..., StudySpec]
) -> None:
    # An epoch of the tiny model takes milliseconds and, with no pruner, its report does not
    # hold training back: 60 epochs could end between the killer's read and its kill under a
    # loaded machine (seen in CI). 400 epochs, killed within the first 200: at least 200 to go.
    epochs = 400
    spec = make_spec(sqlite_url, n_trials=3, parallelism=2, epochs=epochs, pruner="none")
    study = open_study(spec, sqlite_url)
    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(
        target=_kill_first_running_trial, args=(sqlite_url, spec.name, killed, stop, epochs // 2)
    )
    killer.start()
    try:
        Coordinator(spec, study, LocalBackend(sqlite_url, n_workers=2, threads_per_worker=1)).run()
    finally:
        stop.set()
        killer.join()
    assert len(killed) == 1
    trials = study.get_trials()
    victim = trials[killed[0]]
    assert victim.state == TrialState.FAIL
    assert victim.user_attrs["fail_reason"] == "worker lost: process killed by SIGKILL"
    retries = [t for t in trials if t.user_attrs.get("retry_of") == victim.number]
    assert len(retries) == 1
    assert retries[0].params == victim.params and retries[0].user_attrs["attempt"] == 1
    assert retries[0].state in COUNTED_STATES
    assert len([t for t in trials if t.state in COUNTED_STATES]) == 3
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
