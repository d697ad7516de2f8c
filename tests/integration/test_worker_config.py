"""The parts of the distributed backend that need no services: slots, flags, broker, health."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from celery.exceptions import Reject, WorkerShutdown

from automl.backends.factory import create_backend
from automl.errors import UsageError
from automl.studyfile import parse_spec
from automl.worker import tasks
from automl.worker.celery_app import create_app
from automl.worker.pool import plan_slots
from tests.integration.conftest import AUTOML, celery_yaml


def test_gpu_slots_pin_one_gpu_each() -> None:
    slots = plan_slots("all", trials_per_gpu=2, gpu_count=lambda: 2)
    assert [(s.name, s.cuda_visible_devices) for s in slots] == [
        ("gpu:0/0", "0"), ("gpu:0/1", "0"), ("gpu:1/0", "1"), ("gpu:1/1", "1"),
    ]  # fmt: skip
    assert [s.name for s in plan_slots("1", gpu_count=lambda: 2)] == ["gpu:1"]


def test_no_gpu_means_cpu_processes_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    slots = plan_slots("all", concurrency=3, gpu_count=lambda: 0)
    assert [(s.name, s.cuda_visible_devices) for s in slots] == [
        ("cpu:0", ""),
        ("cpu:1", ""),
        ("cpu:2", ""),
    ]
    assert "no CUDA GPU" in caplog.text and "3 CPU process" in caplog.text
    assert [s.name for s in plan_slots("none", concurrency=1, gpu_count=lambda: 8)] == ["cpu:0"]


@pytest.mark.parametrize(
    ("gpus", "message"),
    [("0,x", "--gpus must be all, none or GPU ids"), ("3", "GPU 3 does not exist")],
)
def test_bad_gpu_flags_are_usage_errors(gpus: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        plan_slots(gpus, gpu_count=lambda: 2)


def test_the_app_refuses_pickle_and_acks_late() -> None:
    app = create_app("redis://127.0.0.1:6379/14", ["a", "b"])
    assert app.conf.accept_content == ["json"] and app.conf.task_serializer == "json"
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.broker_transport_options["visibility_timeout"] >= 24 * 3600
    assert [q.name for q in app.conf.task_queues] == [
        "a",
        "b",
    ] and not app.conf.task_create_missing_queues
    task = app.tasks["automl.run_trial"]
    assert task.acks_late and task.reject_on_worker_lost


def test_celery_without_a_broker_is_a_usage_error_naming_the_field(tmp_path: Path) -> None:
    spec = parse_spec(celery_yaml("s", f"sqlite:///{tmp_path / 'x.db'}", "q"))
    with pytest.raises(UsageError, match=r"^execution\.broker: "):
        create_backend(spec, spec.storage)
    amqp = parse_spec(
        celery_yaml("s", f"sqlite:///{tmp_path / 'x.db'}", "q", broker="amqp://host//")
    )
    with pytest.raises(UsageError, match="not a Redis URL"):
        create_backend(amqp, amqp.storage)


@pytest.mark.slow  # `automl run` in a process of its own: seconds of imports and checks
def test_run_without_a_broker_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(celery_yaml("s", f"sqlite:///{tmp_path / 'x.db'}", "q"))
    env = {k: v for k, v in os.environ.items() if k != "AUTOML_BROKER"}
    result = subprocess.run(
        [*AUTOML, "run", str(path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert "execution.broker" in result.stderr and not (tmp_path / "x.db").exists()


def test_a_worker_stops_after_k_infrastructure_failures_in_a_row() -> None:
    settings = tasks.WorkerSettings(
        "sqlite:///unused.db", "redis://127.0.0.1:1/0", "cpu:0", 2.0, max_infra_failures=3
    )
    worker = tasks.TrialWorker(settings, sleep=lambda _s: None)
    with pytest.raises(Reject):  # before training: back to the queue for another worker
        worker.infra_failure("storage unreachable", requeue=True)
    worker.infra_failure("lease renewal failed", requeue=False)
    with pytest.raises(WorkerShutdown) as stop:
        worker.infra_failure("storage unreachable", requeue=False)
    assert stop.value.code == tasks.EXIT_UNHEALTHY
