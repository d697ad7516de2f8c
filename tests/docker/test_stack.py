"""The whole deployment, as README's "Distributed" section starts it on a host without a GPU.

These tests use STAND-IN images for redis, postgres and the PyTorch base (built from Debian's
packages, tests/docker/conftest.py says how and why), and the worker image built offline from
this checkout. ``docker-compose --profile cpu up -d --scale worker-cpu=2`` brings up redis,
postgres, the dashboard and two CPU workers; studies run with ``--backend celery`` from the
``coordinator`` service and from this machine through the published ports (on 127.0.0.1 only,
on free ports: this machine's own Redis and PostgreSQL stay untouched). Then faults: the redis
container restarted mid-study, a worker container killed mid-trial. The tests run in this order
on one stack; ``docker-compose down -v`` removes it at the end, whatever happened.
"""

from __future__ import annotations

import http.cookiejar
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from tests.docker.conftest import CHECKPOINTS, Stack

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(2400)]

N_TRIALS = 4
STUDY = """
name: {name}
storage: sqlite:///unused.db       # AUTOML_STORAGE stands in: the stack's PostgreSQL
objective: {{metric: accuracy}}
data:
  source: sklearn:make_classification
  options: {{n_samples: {rows}, n_features: 20, n_informative: 10, random_state: 0}}
  cv: {{folds: 2, seed: 0}}
trainer: {{epochs: {epochs}, batch_size: 32, checkpoint_every: 1}}
space:
  lr: {{low: 1.0e-3, high: 1.0e-1, log: true}}
  width: {{low: 16, high: 64, log: true}}
search:
  sampler: {{type: tpe, seed: 0}}
  pruner: {{type: none}}
  n_trials: {n_trials}
execution: {{parallelism: 2, trial_retries: 2, checkpoints: {checkpoints}}}
"""


def write_study(
    tmp_path: Path, epochs: int = 3, rows: int = 200, n_trials: int = N_TRIALS
) -> tuple[str, Path]:
    name = f"docker-{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        STUDY.format(
            name=name, rows=rows, epochs=epochs, n_trials=n_trials, checkpoints=CHECKPOINTS
        )
    )
    path.chmod(0o644)  # the coordinator container reads it as its own user
    return name, path


def trials(stack: Stack, name: str) -> list[FrozenTrial]:
    """The study's trials, read from the stack's PostgreSQL through its published port."""
    storage = optuna.storages.RDBStorage(stack.storage_url)
    try:
        return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    finally:
        storage.remove_session()
        storage.engine.dispose()


def assert_exact_budget(
    stack: Stack, name: str, n_trials: int = N_TRIALS, epochs: int = 3
) -> list[FrozenTrial]:
    done = trials(stack, name)
    counted = [t for t in done if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(counted) == n_trials, [
        (t.number, t.state.name, t.user_attrs.get("fail_reason")) for t in done
    ]
    assert not [t for t in done if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    for t in counted:
        # every epoch, once
        assert len(t.intermediate_values) == epochs, (
            t.number,
            t.intermediate_values,
        )
    return done


def host_run(stack: Stack, study: Path) -> subprocess.Popen[str]:
    """``automl run --backend celery`` on this machine, through the published ports."""
    env = stack.env | {"AUTOML_BROKER": stack.broker_url, "AUTOML_STORAGE": stack.storage_url}
    return subprocess.Popen(
        [sys.executable, "-m", "automl", "run", str(study), "--backend", "celery"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout_s: float = 600) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"automl run did not finish within {timeout_s:.0f} s:\n{out[-4000:]}")
    assert proc.returncode == 0, out[-4000:]
    return out


def wait_for(
    stack: Stack,
    name: str,
    ready: Callable[[list[FrozenTrial]], bool],
    what: str,
    timeout_s: float = 180,
) -> list[FrozenTrial]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            running = [t for t in trials(stack, name) if t.state == TrialState.RUNNING]
        except KeyError:  # the study is not created yet
            running = []
        if ready(running):
            return running
        time.sleep(0.5)
    pytest.fail(f"{name}: no {what} within {timeout_s:.0f} s")


def trained_once(stack: Stack, name: str) -> None:
    """Every trial of ``name`` started training once, on one worker (the workers' logs)."""
    starts = Counter(
        line.split("training trial ")[1].split()[0]
        for line in stack.worker_logs().splitlines()
        if "training trial " in line and f" of {name} on " in line
    )
    assert starts and max(starts.values()) == 1, starts


def test_the_dashboard_answers_with_the_token_only(stack: Stack) -> None:
    base, token = f"http://127.0.0.1:{stack.dashboard_port}", stack.env["DASHBOARD_TOKEN"]
    # The token in the address sets a cookie that the dashboard's own redirects carry on.
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    with browser.open(f"{base}/?token={token}", timeout=10) as answer:
        assert answer.status == 200
    api = urllib.request.Request(
        f"{base}/api/studies", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(api, timeout=10) as answer:
        assert answer.status == 200 and "study_summaries" in json.load(answer)
    for url in (f"{base}/", f"{base}/?token=not-the-token-0123456789", f"{base}/api/studies"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 401, url


def test_a_study_from_the_coordinator_service(stack: Stack, tmp_path: Path) -> None:
    name, study = write_study(tmp_path)
    inside = f"studies/{study.name}"
    stack.env["STUDY"] = inside  # the coordinator service's command names ${STUDY}
    stack.compose(
        "--profile", "run", "run", "--rm", "-v", f"{study}:/opt/automl/{inside}:ro", "coordinator"
    )
    done = assert_exact_budget(stack, name)
    # the two workers
    assert {t.user_attrs["host"] for t in done} <= {w[:12] for w in stack.workers()}
    trained_once(stack, name)


def test_a_study_from_this_machine_through_the_published_ports(
    stack: Stack, tmp_path: Path
) -> None:
    name, study = write_study(tmp_path)
    out = finish(host_run(stack, study))
    assert f"127.0.0.1:{stack.postgres_port}" in out and stack.env["POSTGRES_PASSWORD"] not in out
    assert_exact_budget(stack, name)
    trained_once(stack, name)


def test_redis_restarted_mid_study_loses_nothing_and_trains_nothing_twice(
    stack: Stack, tmp_path: Path
) -> None:
    name, study = write_study(tmp_path, epochs=10, rows=1000)
    proc = host_run(stack, study)
    # Both workers training (their claims and the queued messages live in redis only).
    wait_for(stack, name, lambda running: sum(bool(t.intermediate_values) for t in running) == 2,
             "two trials training at once")  # fmt: skip
    # SIGTERM: redis writes its append-only file and stops
    stack.compose("restart", "-t", "10", "redis")
    finish(proc)
    done = assert_exact_budget(stack, name, epochs=10)
    assert not [t for t in done if t.state == TrialState.FAIL], [
        (t.number, t.user_attrs.get("fail_reason")) for t in done
    ]
    trained_once(stack, name)


def test_a_killed_worker_container_resumes_its_trial_on_the_other(
    stack: Stack, tmp_path: Path
) -> None:
    name, study = write_study(tmp_path, epochs=20, rows=1000, n_trials=2)
    proc = host_run(stack, study)
    running = wait_for(
        stack,
        name,
        lambda rs: any(t.user_attrs.get("checkpoint_epoch", 0) >= 2 for t in rs),
        "trial with a checkpoint at epoch 2",
    )
    victim = next(t for t in running if t.user_attrs.get("checkpoint_epoch", 0) >= 2)
    host = victim.user_attrs["host"]  # the container's hostname: the start of its id
    # SIGKILL; Docker then leaves the container down (`docker kill` suspends its restart policy).
    subprocess.run(["docker", "kill", host], check=True, capture_output=True)
    out = finish(proc)
    done = trials(stack, name)
    assert_exact_budget(stack, name, n_trials=2, epochs=20)
    lost = next(t for t in done if t.number == victim.number)
    assert lost.state == TrialState.FAIL and "worker lost" in lost.user_attrs.get(
        "fail_reason", ""
    ), lost.user_attrs
    retry = next(t for t in done if t.user_attrs.get("retry_of") == victim.number)
    assert retry.state == TrialState.COMPLETE, out[-2000:]
    assert retry.user_attrs["resumed_from_epoch"] >= 2  # from the checkpoint on the shared volume
    assert retry.user_attrs["host"] != host  # the other worker: the killed one is gone
    trained_once(stack, name)  # the killed trial and its retry once each, the other trial once
