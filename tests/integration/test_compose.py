"""docker-compose.yml cannot run here (no Docker engine); check what can be checked: it parses,
holds the services the README promises, and every URL points at the right service with the
right credentials variable."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"REDIS_PASSWORD": "redis-secret", "POSTGRES_PASSWORD": "pg-secret", "DASHBOARD_TOKEN": "dashboard-token-0123456789"}


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
    assert {"redis", "postgres", "dashboard", "worker", "coordinator"} <= set(services)


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


@pytest.mark.parametrize("service", ["worker", "coordinator"])
def test_urls_name_the_services_and_their_credentials(services: dict[str, Any], service: str) -> None:
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
    command = " ".join(dashboard["command"]) if isinstance(dashboard["command"], list) else dashboard["command"]
    assert command.startswith("automl dashboard")
    assert dashboard["environment"]["AUTOML_STORAGE"] == services["worker"]["environment"]["AUTOML_STORAGE"]
    # No password on a command line (ps, docker inspect show it): only in the environment.
    assert SECRETS["POSTGRES_PASSWORD"] not in command and "POSTGRES_PASSWORD" not in command
    assert dashboard["environment"]["AUTOML_DASHBOARD_TOKEN"]
    # Safe by default: published on the loopback interface only.
    assert all(str(p).startswith("127.0.0.1:") for p in services["dashboard"]["ports"])
