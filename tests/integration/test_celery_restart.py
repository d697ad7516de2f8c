"""A coordinator (``automl run --backend celery``) killed mid-study and started again."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from optuna.trial import TrialState

from automl.coordinator.retries import ORPHANED
from automl.search import COUNTED_STATES, make_storage
from tests.integration.conftest import AUTOML, WorkerPool, celery_yaml, wait_until

pytestmark = pytest.mark.integration


def test_killed_coordinator_resumes_with_the_exact_count(
    tmp_path: Path,
    postgres_url: str,
    broker_url: str,
    queue: str,
    study_name: str,
    workers: WorkerPool,
) -> None:
    n_trials = 3
    path = tmp_path / "study.yaml"
    # No broker in the file: the CLI takes it from AUTOML_BROKER, as users are told to.
    path.write_text(
        celery_yaml(
            study_name,
            postgres_url,
            queue,
            slow=True,
            n_trials=n_trials,
            parallelism=2,
            epochs=120,
            pruner="none",
        )
    )
    env = dict(os.environ, AUTOML_BROKER=broker_url)
    workers.start(postgres_url, broker_url, queue, concurrency=2)
    storage = make_storage(postgres_url, cached=False)

    def trials() -> list:
        try:
            study_id = storage.get_study_id_from_name(study_name)
        except KeyError:
            return []
        return storage.get_all_trials(study_id, deepcopy=False)

    def both_training() -> bool:
        # Both first trials claimed and only just begun: an epoch of the slow model sleeps
        # about 0.1 s, so the 90 or more left outlive the coordinator's restart by seconds on a
        # fast or a busy machine alike (at 1,000 epochs of the plain model a trial took 3 s,
        # and one ended before a restart under load); the new coordinator must adopt both, and
        # the third trial is dispatched after the restart.
        now = trials()
        return (
            sum(t.state == TrialState.RUNNING and 2 <= (t.last_step or 0) <= 30 for t in now) == 2
        )

    with (tmp_path / "first.log").open("wb") as log:
        first = subprocess.Popen(
            [*AUTOML, "run", str(path), "--backend", "celery"], env=env, stdout=log, stderr=log
        )
    try:
        wait_until(both_training, 120, "two trials training", every_s=0.05)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # The coordinator asks a trial ahead (RUNNING, never sent): the new one fails it as orphaned.
    training_at_kill = {
        t.number for t in trials() if t.state == TrialState.RUNNING and t.last_step is not None
    }
    assert len(training_at_kill) == 2

    second = subprocess.run(
        [*AUTOML, "run", str(path), "--backend", "celery"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert second.returncode == 0, second.stderr[-3000:]

    final = trials()
    counted = [t for t in final if t.state in COUNTED_STATES]
    assert len(counted) == n_trials
    assert not [t for t in final if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    # No duplicates: each lineage (a trial and its retries) has at most one counted result.
    roots = Counter(int(t.user_attrs.get("retry_of", t.number)) for t in counted)
    assert max(roots.values()) == 1
    # Trials that a live worker was training when the coordinator died were awaited, not redone.
    for number in training_at_kill:
        trial = final[number]
        assert trial.state in COUNTED_STATES, (trial.state, trial.user_attrs.get("fail_reason"))
        assert trial.user_attrs.get("fail_reason") != ORPHANED
    assert second.stderr.count("still running on a live worker") == 2
