"""`automl dashboard`: the token, the API, the page in a real browser, the bind rule."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIServer, make_server

import optuna
import pytest

from automl.cli import main
from automl.dashboard.server import dashboard_app
from automl.search import make_storage
from automl.studyfile import StudySpec
from tests.browser import rendered_dom
from tests.finished_study import finished_study as make_finished_study


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[StudySpec, optuna.Study]:
    """One study for the tests that only read it (its storage URL is ``spec.storage``)."""
    return make_finished_study(str(tmp_path_factory.mktemp("finished")))


@pytest.fixture
def dashboard(finished_study: tuple[StudySpec, optuna.Study]) -> Iterator[str]:
    token = "a-long-enough-test-token"
    storage = make_storage(finished_study[0].storage, cached=False)
    server: WSGIServer = make_server("127.0.0.1", 0, dashboard_app(storage, token))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_dashboard_needs_the_token_and_its_api_lists_trials(
    dashboard: str, finished_study: tuple[StudySpec, optuna.Study]
) -> None:
    spec, study = finished_study
    assert _get(f"{dashboard}/api/studies")[0] == 401
    assert _get(f"{dashboard}/api/studies?token=wrong-token-wrong-token")[0] == 401
    status, body = _get(f"{dashboard}/api/studies?token=a-long-enough-test-token")
    assert status == 200
    summary = next(s for s in json.loads(body)["study_summaries"] if s["study_name"] == spec.name)
    status, body = _get(
        f"{dashboard}/api/studies/{summary['study_id']}?token=a-long-enough-test-token"
    )
    trials = json.loads(body)["trials"]
    assert len(trials) == len(study.trials)
    assert any(t["intermediate_values"] for t in trials)
    # And in a real browser, the single-page app renders the study.
    dom = rendered_dom(
        f"{dashboard}/dashboard/studies/{summary['study_id']}?token=a-long-enough-test-token", 10000
    )
    assert spec.name in dom


def test_dashboard_refuses_to_bind_beyond_loopback_without_a_token(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["dashboard", "--storage", "sqlite:///unused.db", "--host", "0.0.0.0"]) == 2
    assert "needs --token" in capsys.readouterr().err
    assert not Path("unused.db").exists()
