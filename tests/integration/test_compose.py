"""docker-compose.yml read without Docker: it parses, holds the services the README promises
(a GPU and a CPU variant of the worker), and every URL points at the right service with the
right credentials variable. tests/docker/ starts the stack for real (``pytest -m docker``)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "REDIS_PASSWORD": "redis-secret",
    "POSTGRES_PASSWORD": "pg-secret",
    "DASHBOARD_TOKEN": "dashboard-token-0123456789",
}


def _interpolate(value: Any) -> Any:
    """Compose's ``${VAR}``, ``${VAR:?message}`` and ``${VAR:-default}``, with test secrets."""
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    if not isinstance(value, str):
        return value

    def sub(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if name in SECRETS:
            return SECRETS[name]
        if op == ":?":
            raise AssertionError(f"{name} is required but not a known secret")
        return arg if op == ":-" else ""

    return re.sub(r"\$\{(\w+)(?:(:[?-])([^}]*))?\}", sub, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return _interpolate(compose["services"])


def test_the_services_are_there(services: dict[str, Any]) -> None:
    assert {"redis", "postgres", "dashboard", "worker", "worker-cpu", "coordinator"} <= set(
        services
    )


def test_plain_up_starts_what_every_host_can_run(services: dict[str, Any]) -> None:
    """`docker compose up -d` starts redis, postgres and the dashboard; workers are a profile
    away (gpu, cpu) and the coordinator is run on demand, so a host without a GPU never tries
    to reserve one."""
    unprofiled = {name for name, service in services.items() if not service.get("profiles")}
    assert unprofiled == {"redis", "postgres", "dashboard"}
    assert services["worker"]["profiles"] == ["gpu"]
    assert services["worker-cpu"]["profiles"] == ["cpu"]
    assert services["coordinator"]["profiles"] == ["run"]


def test_redis_requires_the_password_variable(compose: dict[str, Any]) -> None:
    command = " ".join(compose["services"]["redis"]["command"])
    assert re.search(r"--requirepass \$\{REDIS_PASSWORD(:[?-][^}]*)?\}", command)


def test_the_worker_is_built_from_workers_with_a_gpu_reservation(services: dict[str, Any]) -> None:
    worker = services["worker"]
    dockerfile = Path(worker["build"].get("context", ".")) / worker["build"]["dockerfile"]
    assert dockerfile.parts[0] == "workers" and (ROOT / dockerfile).is_file()
    assert os.access(ROOT / "workers" / "start-worker.sh", os.X_OK)
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices)
    assert worker["environment"]["AUTOML_GPUS"] == "all"


def test_the_cpu_worker_is_the_same_image_without_a_gpu(services: dict[str, Any]) -> None:
    gpu, cpu = services["worker"], services["worker-cpu"]
    assert cpu["image"] == gpu["image"] and cpu["build"] == gpu["build"]
    assert "deploy" not in cpu  # no device reservation: it starts where there is no GPU
    assert cpu["environment"]["AUTOML_GPUS"] == "none"
    assert int(cpu["environment"]["AUTOML_CONCURRENCY"]) >= 1


@pytest.mark.parametrize("service", ["worker", "worker-cpu", "coordinator"])
def test_workers_and_coordinator_share_the_checkpoint_volume(
    compose: dict[str, Any], services: dict[str, Any], service: str
) -> None:
    assert "checkpoints:/var/lib/automl/checkpoints" in services[service]["volumes"]
    assert "checkpoints" in compose["volumes"]
    # The image creates the mount point for its user, so that a fresh volume is writable.
    assert "/var/lib/automl/checkpoints" in (ROOT / "workers" / "Dockerfile").read_text()


def test_ports_are_on_loopback_with_todays_defaults(services: dict[str, Any]) -> None:
    expected = {
        "redis": "127.0.0.1:6379:6379",
        "postgres": "127.0.0.1:5432:5432",
        "dashboard": "127.0.0.1:8080:8080",
    }
    for name, service in services.items():
        assert all(str(p).startswith("127.0.0.1:") for p in service.get("ports", [])), name
    assert {name: services[name]["ports"] for name in expected} == {
        k: [v] for k, v in expected.items()
    }


def test_the_port_variables_move_the_published_ports(compose: dict[str, Any]) -> None:
    for name, variable in (
        ("redis", "AUTOML_REDIS_PORT"),
        ("postgres", "AUTOML_POSTGRES_PORT"),
        ("dashboard", "AUTOML_DASHBOARD_PORT"),
    ):
        assert f"${{{variable}:-" in compose["services"][name]["ports"][0], name


def test_the_image_builds_from_a_wheel_folder_without_an_index() -> None:
    dockerfile = (ROOT / "workers" / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=pytorch/pytorch:\S+", dockerfile, re.M)
    assert (
        re.search(r"^ARG WHEELS=", dockerfile, re.M)
        and "--no-index --find-links /tmp/wheels" in dockerfile
    )
    assert os.access(ROOT / "workers" / "download-wheels.sh", os.X_OK)
    assert (
        ROOT / "workers" / "wheels" / ".gitignore"
    ).is_file()  # the default folder, never committed


@pytest.mark.parametrize("service", ["worker", "worker-cpu", "coordinator"])
def test_urls_name_the_services_and_their_credentials(
    services: dict[str, Any], service: str
) -> None:
    env = services[service]["environment"]
    broker = urlsplit(env["AUTOML_BROKER"])
    assert broker.scheme == "redis" and broker.hostname == "redis"
    assert broker.password == SECRETS["REDIS_PASSWORD"]
    assert (broker.port or 6379) == 6379

    postgres = services["postgres"]["environment"]
    storage = urlsplit(env["AUTOML_STORAGE"])
    assert storage.scheme.startswith("postgresql") and storage.hostname == "postgres"
    assert storage.username == postgres["POSTGRES_USER"]
    assert storage.password == postgres["POSTGRES_PASSWORD"] == SECRETS["POSTGRES_PASSWORD"]
    assert storage.path.lstrip("/") == postgres["POSTGRES_DB"]


def test_the_dashboard_reads_the_workers_storage(services: dict[str, Any]) -> None:
    dashboard = services["dashboard"]
    command = (
        " ".join(dashboard["command"])
        if isinstance(dashboard["command"], list)
        else dashboard["command"]
    )
    assert command.startswith("automl dashboard")
    assert (
        dashboard["environment"]["AUTOML_STORAGE"]
        == services["worker"]["environment"]["AUTOML_STORAGE"]
    )
    assert (
        dashboard["environment"]["AUTOML_STORAGE"]
        == services["worker-cpu"]["environment"]["AUTOML_STORAGE"]
    )
    # No password on a command line (ps, docker inspect show it): only in the environment.
    assert SECRETS["POSTGRES_PASSWORD"] not in command and "POSTGRES_PASSWORD" not in command
    assert dashboard["environment"]["AUTOML_DASHBOARD_TOKEN"]
    # Safe by default: published on the loopback interface only.
    assert all(str(p).startswith("127.0.0.1:") for p in services["dashboard"]["ports"])
