"""The Docker deployment under test: the daemon, the images, the compose stack.

STAND-INS: no image registry can be reached from the machines these tests run on, so the public
images that docker-compose.yml and workers/Dockerfile start FROM (redis, postgres, the PyTorch
image) are stand-ins built from Debian bookworm's packages by tests/docker/build-standins.sh and
tagged with the real names (a real image already there under that name is used instead). The
worker image is built from this checkout as workers/README.md says for a host without the
internet: wheels made beforehand by workers/download-wheels.sh, ``--network none``.

The Docker daemon is started (``dockerd`` in the background, stopped at the end) when it is not
running; where that cannot be done the tests skip saying why, or fail when ``CI`` is set.
Every test here must be marked ``docker`` (checked at collection, like ``integration`` in
tests/conftest.py), so that ``pytest -m docker`` runs them and ``-m "not docker"`` leaves them out.
Everything is cached under ``AUTOML_DOCKER_CACHE`` (default /var/cache/automl-docker-test).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("AUTOML_DOCKER_CACHE", "/var/cache/automl-docker-test"))
PROJECT = "automl-dockertest"  # a compose project of its own: never the user's containers
WORKER_IMAGE = "automl-worker"
CHECKPOINTS = "/var/lib/automl/checkpoints"  # the workers' shared volume (docker-compose.yml)
LEASE_S = 5  # AUTOML_LEASE_S for the workers: a killed one is noticed within seconds


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [
        i.nodeid
        for i in items
        if i.path.is_relative_to(HERE) and i.get_closest_marker("docker") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests under tests/docker/ that are not marked docker:\n  "
            + "\n  ".join(unmarked)
            + "\nmark the module: pytestmark = [pytest.mark.docker, pytest.mark.slow]"
        )


def skip_or_fail(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so the Docker tests must run: {why}")
    pytest.skip(f"Docker tests not run: {why}")


def run(args: list[str], timeout_s: float = 600, env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run a command; on failure, fail the test with its output's tail."""
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, env=env)
    if check and proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-4000:]
        pytest.fail(f"{' '.join(args[:6])} ... exited {proc.returncode}:\n{tail}")
    return proc


def _daemon_answers() -> bool:
    try:
        return subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                              capture_output=True, timeout=20).returncode == 0  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def docker_daemon() -> Iterator[None]:
    """A Docker daemon that answers: this machine's, or one started here (and stopped after)."""
    missing = [t for t in ("docker", "docker-compose", "debootstrap") if shutil.which(t) is None]
    if missing:
        skip_or_fail(
            f"{', '.join(missing)} not installed (apt-get install -y docker.io "
            "docker-compose debootstrap)"
        )
    if _daemon_answers():
        yield
        return
    if shutil.which("dockerd") is None:
        skip_or_fail(
            "the Docker daemon is not running, and dockerd is not on PATH (apt-get "
            "install -y docker.io)"
        )
    if os.geteuid() != 0:
        skip_or_fail("the Docker daemon is not running, and starting dockerd needs root")
    CACHE.mkdir(parents=True, exist_ok=True)
    log_path = CACHE / "dockerd.log"
    with open(log_path, "ab") as log:
        daemon = subprocess.Popen(
            ["dockerd"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 60
    while not _daemon_answers():
        if daemon.poll() is not None or time.monotonic() > deadline:
            daemon.kill()
            tail = log_path.read_text(errors="replace")[-1500:]
            skip_or_fail(
                f"dockerd did not start (exit {daemon.poll()}); the end of {log_path}:\n{tail}"
            )
        time.sleep(0.5)
    try:
        yield
    finally:
        daemon.terminate()
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()


def _python_of_version(version: str) -> str:
    """A Python on this machine of exactly ``version`` with pip: pip evaluates environment
    markers (``python_full_version < "3.11.3"``) for the Python that runs it."""
    for candidate in (sys.executable, "/usr/bin/python3", shutil.which("python3.11") or ""):
        if not candidate or not Path(candidate).exists():
            continue
        probe = subprocess.run(
            [candidate, "-c", "import platform, pip; print(platform.python_version())"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    pytest.fail(f"no Python {version} with pip on this machine to download the image's wheels for")


@pytest.fixture(scope="session")
def images(docker_daemon: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    """The stand-ins, the wheels and the worker image; returns how long each step took (s)."""
    if os.geteuid() != 0:
        skip_or_fail("building the stand-in images needs root (debootstrap, chroot)")
    took: dict[str, float] = {}
    started = time.monotonic()
    built = run(
        ["bash", str(HERE / "build-standins.sh")],
        timeout_s=1500,
        env=os.environ | {"PYTHON": sys.executable},
    )
    took["stand-ins"] = time.monotonic() - started
    ready = [
        line.removeprefix("build-standins: ready: ")
        for line in built.stderr.splitlines()
        if "ready: " in line
    ]

    # The wheels, as on a connected machine, for the base image's Python.
    base = re.search(r"^ARG BASE_IMAGE=(\S+)", (ROOT / "workers/Dockerfile").read_text(), re.M)
    assert base, "workers/Dockerfile has no ARG BASE_IMAGE=..."
    version = run(["docker", "run", "--rm", "--network", "none", base.group(1), "python", "-c",
                   "import platform; print(platform.python_version())"]).stdout.strip()  # fmt: skip
    wheels = CACHE / "wheels"
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + version.encode()).hexdigest()
    started = time.monotonic()
    if not (wheels / ".complete").is_file() or (wheels / ".complete").read_text() != key:
        shutil.rmtree(wheels, ignore_errors=True)
        run(["bash", str(ROOT / "workers/download-wheels.sh"), str(wheels)], timeout_s=900,
            env=os.environ | {"PYTHON": _python_of_version(version)})  # fmt: skip
        (wheels / ".complete").write_text(key)
    took["wheels"] = time.monotonic() - started

    # The worker image from a copy of this checkout with the wheels in workers/wheels.
    context = tmp_path_factory.mktemp("context")
    for name in ("pyproject.toml", "README.md", ".dockerignore"):
        shutil.copy2(ROOT / name, context / name)
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.whl")
    for name in ("src", "studies", "workers"):
        shutil.copytree(ROOT / name, context / name, ignore=skip)
    for wheel in wheels.glob("*.whl"):
        shutil.copy2(wheel, context / "workers" / "wheels" / wheel.name)
    started = time.monotonic()
    run(["docker", "build", "--network", "none", "--build-arg", "WHEELS=workers/wheels",
         "-f", "workers/Dockerfile", "-t", WORKER_IMAGE, str(context)], timeout_s=1200)  # fmt: skip
    took["worker image"] = time.monotonic() - started
    shutil.rmtree(context, ignore_errors=True)
    warnings.warn(
        (
            "tests/docker runs on STAND-IN images built from Debian bookworm's packages "
            f"({ready[-1] if ready else '?'}); "
        )
        + ", ".join(f"{step} {seconds:.0f} s" for step, seconds in took.items()),
        stacklevel=1,
    )
    return took


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """The compose project under test and how to reach it from this machine."""

    env: dict[str, str]  # what docker-compose runs with: secrets, ports, project name
    redis_port: int
    postgres_port: int
    dashboard_port: int

    def compose(
        self, *args: str, timeout_s: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run(["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "-p", PROJECT, *args],
                   timeout_s=timeout_s, env=self.env, check=check)  # fmt: skip

    @property
    def broker_url(self) -> str:
        return f"redis://:{self.env['REDIS_PASSWORD']}@127.0.0.1:{self.redis_port}/0"

    @property
    def storage_url(self) -> str:
        return f"postgresql://automl:{self.env['POSTGRES_PASSWORD']}@127.0.0.1:{self.postgres_port}/automl"

    def workers(self) -> list[str]:
        """The ids of the CPU worker containers running now."""
        return self.compose("ps", "-q", "worker-cpu").stdout.split()

    def worker_logs(self) -> str:
        return self.compose("logs", "--no-color", "worker-cpu").stdout


@pytest.fixture(scope="module")
def stack(images: dict[str, float], request: pytest.FixtureRequest) -> Stack:
    """redis, postgres, dashboard and two CPU workers, up; ``docker-compose down -v`` after."""
    ports = {
        "AUTOML_REDIS_PORT": _free_port(),
        "AUTOML_POSTGRES_PORT": _free_port(),
        "AUTOML_DASHBOARD_PORT": _free_port(),
    }
    env = os.environ | {k: str(v) for k, v in ports.items()} | {
        "REDIS_PASSWORD": secrets.token_hex(12), "POSTGRES_PASSWORD": secrets.token_hex(12),
        "DASHBOARD_TOKEN": secrets.token_urlsafe(18), "AUTOML_LEASE_S": str(LEASE_S),
    }  # fmt: skip
    stack = Stack(
        env,
        ports["AUTOML_REDIS_PORT"],
        ports["AUTOML_POSTGRES_PORT"],
        ports["AUTOML_DASHBOARD_PORT"],
    )
    stack.compose("down", "-v", "--remove-orphans", check=False)  # what an interrupted run left
    request.addfinalizer(
        lambda: stack.compose("down", "-v", "--remove-orphans", "-t", "5", check=False)
    )
    stack.compose("--profile", "cpu", "up", "-d", "--no-build", "--scale", "worker-cpu=2")
    deadline = time.monotonic() + 120
    while True:  # the dashboard answers once postgres is up and it has started
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{stack.dashboard_port}/", timeout=5)
        except urllib.error.HTTPError:
            break  # 401: up, and asking for the token
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(
                    "the dashboard did not answer within 120 s:\n"
                    + stack.compose("logs", "--no-color").stdout[-4000:]
                )
            time.sleep(1)
    assert len(stack.workers()) == 2
    return stack
