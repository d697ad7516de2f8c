"""A two-objective study as optuna-dashboard (served by `automl dashboard`, seen in headless
Chromium) and the `optuna` CLI show it: the Pareto-front card, the objectives by name, the front."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from automl.studyfile import StudySpec
from tests.browser import rendered_dom
from tests.report.pareto_study import FRONT, pareto_study

pytestmark = pytest.mark.slow  # starts automl dashboard and the optuna CLI


@pytest.fixture
def study(sqlite_url: str, study_name: str) -> tuple[StudySpec, optuna.Study]:
    return pareto_study(study_name, sqlite_url)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dashboard(study: tuple[StudySpec, optuna.Study], tmp_path: Path) -> Iterator[str]:
    """`automl dashboard` on the study's storage, on loopback (no token needed there)."""
    port = _free_port()
    log = tmp_path / "dashboard.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "automl",
                "dashboard",
                "--storage",
                study[0].storage,
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/studies", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"automl dashboard did not come up: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _text(dom: str) -> str:
    body = re.sub(r"<(style|script)\b.*?</\1>", " ", dom[dom.find("<body") :], flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def test_the_dashboard_shows_the_pareto_front_card(
    dashboard: str, study: tuple[StudySpec, optuna.Study]
) -> None:
    spec, _ = study
    with urllib.request.urlopen(f"{dashboard}/api/studies", timeout=30) as response:
        summary = next(
            s
            for s in json.loads(response.read())["study_summaries"]
            if s["study_name"] == spec.name
        )
    assert summary["directions"] == ["maximize", "minimize"]
    text = _text(rendered_dom(f"{dashboard}/dashboard/studies/{summary['study_id']}", 12000))
    assert spec.name in text
    assert "Pareto Front" in text
    assert "Objective X: accuracy" in text and "Objective Y: params" in text
    # Its best-trials card lists the front members by their values.
    assert (
        "Trial 0 Objective Values = [0.9, 3000]" in text
        and "Trial 1 Objective Values = [0.8, 1000]" in text
    )


def test_optuna_best_trials_lists_the_front(study: tuple[StudySpec, optuna.Study]) -> None:
    spec, _ = study
    optuna_cli = Path(sys.executable).with_name("optuna")
    result = subprocess.run(
        [
            str(optuna_cli),
            "best-trials",
            "--study-name",
            spec.name,
            "--storage",
            spec.storage,
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    best = json.loads(result.stdout)
    # The feasible front only: #3 has the best accuracy but breaks the params bound.
    assert [t["number"] for t in best] == FRONT
    assert best[0]["values"] == {"accuracy": 0.9, "params": 3000.0}
    assert best[1]["values"] == {"accuracy": 0.8, "params": 1000.0}
