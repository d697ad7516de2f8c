"""Your own training code through the real fleet: a function (``train: python:...``) and a
program (``train: {command: [...]}``), on the local backend and on Celery workers. Each
outcome for real: complete, pruned (the program is stopped, not waited for), failed, out of
memory (not retried), and a worker killed with SIGKILL mid-trial, whose trial resumes from
the checkpoint the code saved and ends with the uninterrupted value.

The code is tests/own_code.py; its ``mode`` param says what it does.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from automl.search import make_storage
from automl.studyfile import StudySpec, parse_spec
from tests.integration.conftest import WorkerPool, finish, run_in_thread, when_checkpointed

FUNCTION = "python:tests.own_code:fit"
PROGRAM = f"{{command: ['{sys.executable}', tests/own_code.py], timeout: 2m}}"
FORMS = {"function": FUNCTION, "program": PROGRAM}
OUTCOMES = (
    "[{mode: complete, lr: 0.5}, {mode: fail, lr: 0.5}, {mode: oom, lr: 0.5}, {mode: prune, "
    "lr: 0.5}]"
)


def own_spec(
    name: str, storage: str, train: str, enqueue: str, *, n_trials: int, execution: str = ""
) -> StudySpec:
    return parse_spec(f"""
name: {name}
storage: {storage}
objective: {{metric: total, direction: maximize}}
train: {train}
space:
  mode: {{choices: [complete, fail, oom, prune, slow]}}
  lr: {{low: 0.1, high: 1.0}}
search:
  sampler: {{type: random, seed: 0}}
  pruner: {{type: threshold, upper: 50.0}}
  n_trials: {n_trials}
  enqueue: {enqueue}
execution: {{parallelism: 1, trial_retries: 1{execution}}}
""")


def _trials(url: str, name: str) -> list[FrozenTrial]:
    return optuna.load_study(study_name=name, storage=make_storage(url, cached=False)).trials


def _by_mode(trials: list[FrozenTrial]) -> dict[str, FrozenTrial]:
    out: dict[str, FrozenTrial] = {}
    for t in trials:
        out.setdefault(t.params["mode"], t)
    return out


def _check_outcomes(trials: list[FrozenTrial], form: str) -> None:
    t = _by_mode(trials)
    complete = t["complete"]
    assert complete.state == TrialState.COMPLETE and complete.value == 0.5 * (1 + 2 + 3 + 4 + 5)
    assert sorted(complete.intermediate_values) == [1, 2, 3, 4, 5]
    assert (
        complete.user_attrs["curve"] == [0.5, 1.5, 3.0, 5.0, 7.5]
        and complete.user_attrs["best_epoch"] == 5
    )
    if form == "function":  # TrialContext.log
        assert complete.user_attrs["user_metrics"] == {"double": [1.0, 3.0, 6.0, 10.0, 15.0]}
    fail = t["fail"]
    assert fail.state == TrialState.FAIL
    assert "ValueError: the data loader broke" in fail.user_attrs["fail_reason"]
    if form == "program":
        assert "exited with code 3" in fail.user_attrs["fail_reason"]
    oom = t["oom"]
    assert oom.state == TrialState.FAIL and oom.user_attrs["fail_reason"] == "out of memory"
    retried = {x.user_attrs.get("retry_of") for x in trials}
    # failures of the code are not retried
    assert fail.number not in retried and oom.number not in retried
    prune = t["prune"]
    assert prune.state == TrialState.PRUNED and prune.intermediate_values == {1: 100.0}
    # stopped at the pruner's word, not after its 60 s sleep
    assert prune.user_attrs["duration_s"] < 20


def _run(spec: StudySpec, url: str, timeout_s: float = 240) -> None:
    thread, errors = run_in_thread(spec, url)
    finish(thread, errors, timeout_s)


def _kill_when_checkpointed(url: str, name: str, epoch: int) -> threading.Thread:
    return when_checkpointed(
        url, name, epoch, lambda trial: os.kill(trial.user_attrs["pid"], signal.SIGKILL)
    )


def _check_resumed(trials: list[FrozenTrial]) -> None:
    first, retry = trials[:2]
    assert first.state == TrialState.FAIL and first.user_attrs["fail_reason"].startswith(
        "worker lost"
    )
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["retry_of"] == first.number
    assert retry.user_attrs["resumed_from_epoch"] == first.user_attrs["checkpoint_epoch"] >= 3
    assert sorted(retry.intermediate_values) == list(range(1, 11))  # carried over, then continued
    total = 0.0
    for step in range(1, 11):
        total += 0.1 * step
    assert retry.value == total  # the running sum came back from the checkpoint


@pytest.mark.slow  # worker processes, and the program form runs one more per trial
@pytest.mark.parametrize("form", FORMS)
def test_local_backend_runs_each_outcome(tmp_path: Path, form: str) -> None:
    url = str(tmp_path / "study.journal")
    _run(own_spec("own", url, FORMS[form], OUTCOMES, n_trials=2), url)
    _check_outcomes(_trials(url, "own"), form)


@pytest.mark.slow  # a worker killed mid-trial, and the retry
@pytest.mark.parametrize("form", FORMS)
def test_local_worker_killed_mid_trial_resumes_from_the_codes_checkpoint(
    tmp_path: Path, form: str
) -> None:
    url = str(tmp_path / "study.journal")
    killer = _kill_when_checkpointed(url, "own", 3)
    try:
        _run(own_spec("own", url, FORMS[form], "[{mode: slow, lr: 0.1}]", n_trials=1), url)
    finally:
        killer.join()
    _check_resumed(_trials(url, "own"))
    assert not list((tmp_path / "automl-checkpoints").iterdir())


@pytest.mark.integration
@pytest.mark.parametrize("form", FORMS)
def test_celery_workers_run_each_outcome_and_resume_after_kill(
    tmp_path: Path, form: str, broker_url: str, queue: str, study_name: str, workers: WorkerPool
) -> None:
    url = str(tmp_path / "study.journal")
    folder = tmp_path / "shared-checkpoints"
    execution = (
        f", backend: celery, queue: {queue}, broker: '{broker_url}', checkpoints: '{folder}'"
    )
    workers.start(url, broker_url, queue, concurrency=1)
    _run(own_spec(study_name, url, FORMS[form], OUTCOMES, n_trials=2, execution=execution), url)
    _check_outcomes(_trials(url, study_name), form)

    killer = _kill_when_checkpointed(url, f"{study_name}-k", 3)
    try:
        _run(
            own_spec(
                f"{study_name}-k",
                url,
                FORMS[form],
                "[{mode: slow, lr: 0.1}]",
                n_trials=1,
                execution=execution,
            ),
            url,
        )
    finally:
        killer.join()
    _check_resumed(_trials(url, f"{study_name}-k"))
    assert not list(folder.iterdir())
