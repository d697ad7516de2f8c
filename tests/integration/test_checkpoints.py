"""Checkpoints through the fleet, for real: a worker process killed with SIGKILL mid-trial, and
``automl worker`` sent SIGTERM (preemption). The trial runs again from its last checkpoint and
ends with exactly the fold scores of an uninterrupted run of the same params; checkpoints are
gone once the trials end.

Trials use tests/slow_model.py (every forward pass sleeps), so that a kill lands mid-trial on
any machine. The same sampler seed gives the first trial the same params in every study, which
is how an uninterrupted reference run of the same params is made.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from automl.search import make_storage
from automl.studyfile import StudySpec, parse_spec
from tests.conftest import tiny_yaml
from tests.integration.conftest import (
    WorkerPool,
    celery_yaml,
    finish,
    run_in_thread,
    when_checkpointed,
)

EPOCHS = 30
CHECKPOINTS = "checkpoint_every: 1, early_stopping: null"


def _local_spec(name: str, storage: str) -> StudySpec:
    text = tiny_yaml(name, storage, epochs=EPOCHS, n_trials=1, pruner="none", retries=1)
    text = text.replace("batch_size: 64}", f"batch_size: 64, {CHECKPOINTS}}}")
    return parse_spec(
        text.replace("trainer:", "model: {family: 'python:tests.slow_model:build'}\ntrainer:")
    )


def _celery_spec(
    name: str, storage: str, queue: str, broker: str, folder: Path, retries: int
) -> StudySpec:
    text = celery_yaml(
        name,
        storage,
        queue,
        broker,
        slow=True,
        epochs=EPOCHS,
        n_trials=1,
        pruner="none",
        retries=retries,
    )
    text = text.replace("early_stopping: null}", f"{CHECKPOINTS}}}")
    return parse_spec(text.replace("execution: {", f"execution: {{checkpoints: '{folder}', "))


def _trials(storage_url: str, name: str) -> list[FrozenTrial]:
    return optuna.load_study(
        study_name=name, storage=make_storage(storage_url, cached=False)
    ).trials


def _run(spec: StudySpec, storage_url: str, timeout_s: float = 240) -> None:
    thread, errors = run_in_thread(spec, storage_url)
    finish(thread, errors, timeout_s)


def _assert_resumed_exactly(
    killed: list[FrozenTrial], reference: FrozenTrial, *, reason: str
) -> FrozenTrial:
    first, retry = killed
    assert first.state == TrialState.FAIL and reason in first.user_attrs["fail_reason"]
    saved = first.user_attrs["checkpoint_epoch"]
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["retry_of"] == first.number
    assert retry.params == first.params == reference.params
    assert retry.user_attrs["resumed_from_epoch"] == saved >= 3
    # the whole curve, carried over
    assert sorted(retry.intermediate_values) == list(range(1, EPOCHS + 1))
    assert retry.user_attrs["fold_scores"] == reference.user_attrs["fold_scores"]
    assert (
        retry.value == reference.value
        and retry.user_attrs["curve"] == reference.user_attrs["curve"]
    )
    assert reference.user_attrs["resumed_from_epoch"] == 0
    return retry


def _reference_and_struck(
    url: str, name: str, spec_of: Callable[[str], StudySpec], strike: Callable[[FrozenTrial], None]
) -> tuple[FrozenTrial, list[FrozenTrial]]:
    """Run study ``name-ref`` uninterrupted, then study ``name`` (same sampler seed, so the same
    params), where ``strike(trial)`` hits once trial 0 has checkpointed epoch 3. Returns the
    reference trial and the struck study's trials."""
    _run(spec_of(f"{name}-ref"), url)
    [reference] = _trials(url, f"{name}-ref")
    chaos = when_checkpointed(url, name, 3, strike)
    try:
        _run(spec_of(name), url)
    finally:
        chaos.join()
    return reference, _trials(url, name)


def _kill_9(trial: FrozenTrial) -> None:
    os.kill(trial.user_attrs["pid"], signal.SIGKILL)


@pytest.mark.slow  # an uninterrupted reference study, then the struck one
def test_local_worker_killed_mid_trial_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    url = str(tmp_path / "study.journal")
    reference, trials = _reference_and_struck(
        url, "killed", lambda name: _local_spec(name, url), _kill_9
    )
    _assert_resumed_exactly(trials, reference, reason="worker lost")
    assert not list((tmp_path / "automl-checkpoints").iterdir())  # removed when the retry ended


@pytest.mark.integration
def test_celery_worker_killed_mid_trial_resumes_from_its_checkpoint(
    tmp_path: Path, broker_url: str, queue: str, study_name: str, workers: WorkerPool
) -> None:
    url = str(tmp_path / "study.journal")
    folder = tmp_path / "shared-checkpoints"
    workers.start(url, broker_url, queue, concurrency=1)
    reference, trials = _reference_and_struck(
        url,
        study_name,
        lambda name: _celery_spec(name, url, queue, broker_url, folder, retries=1),
        _kill_9,
    )
    _assert_resumed_exactly(trials, reference, reason="worker lost")
    assert not list(folder.iterdir())


@pytest.mark.integration
def test_sigterm_preempts_the_trial_which_resumes_without_using_a_retry(
    tmp_path: Path, broker_url: str, queue: str, study_name: str, workers: WorkerPool
) -> None:
    url = str(tmp_path / "study.journal")
    folder = tmp_path / "shared-checkpoints"
    workers.start(url, broker_url, queue, concurrency=1)

    def preempt_then_restart(_trial: FrozenTrial) -> None:
        assert workers.process is not None
        workers.process.send_signal(signal.SIGTERM)  # what a spot machine or Kubernetes sends
        workers.process.wait(timeout=30)  # --grace-s: every process is gone by then
        workers.start(url, broker_url, queue, concurrency=1)  # a new machine joins

    # trial_retries: 0, so the run goes on only because preemption is not counted as a retry.
    reference, trials = _reference_and_struck(
        url,
        study_name,
        lambda name: _celery_spec(name, url, queue, broker_url, folder, retries=0),
        preempt_then_restart,
    )
    retry = _assert_resumed_exactly(trials, reference, reason="preempted")
    assert trials[0].user_attrs["fail_reason"] == "preempted"
    assert retry.user_attrs.get("attempt", 0) == 0
    assert not list(folder.iterdir())
