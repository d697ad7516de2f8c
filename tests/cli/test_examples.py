"""The example studies as a newcomer meets them: quickstart runs end to end, and the results
are readable by optuna-dashboard with no help from automl."""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from automl.cli import main
from automl.search import COUNTED_STATES, load_study, make_storage

QUICKSTART = Path(__file__).parents[2] / "studies" / "quickstart.yaml"


@pytest.mark.slow
def test_quickstart_runs_to_completion_and_prints_the_best_trial(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'quickstart.db'}"
    assert main(["run", str(QUICKSTART), "--storage", url]) == 0
    out = capsys.readouterr().out
    assert "best accuracy" in out
    study, spec = load_study(url, "quickstart")
    assert len([t for t in study.trials if t.state in COUNTED_STATES]) == spec.search.n_trials
    assert study.best_value > 0.9  # digits with a sensible MLP
    _dashboard_lists_the_trials(url, "quickstart")


def _call(app: Any, path: str) -> Any:
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "wsgi.input": BytesIO()}
    setup_testing_defaults(environ)
    status: list[str] = []
    body = b"".join(app(environ, lambda s, h, *a: status.append(s)))
    assert status[0].startswith("200"), (path, status, body[:300])
    return json.loads(body)


def _dashboard_lists_the_trials(url: str, name: str) -> None:
    from optuna_dashboard import wsgi

    app = wsgi(make_storage(url, cached=False))
    studies = _call(app, "/api/studies")["study_summaries"]
    study = next(s for s in studies if s["study_name"] == name)
    detail = _call(app, f"/api/studies/{study['study_id']}")
    trials = detail["trials"]
    assert len(trials) >= 1
    finished = [t for t in trials if t["state"] in ("Complete", "Pruned")]
    assert finished, [t["state"] for t in trials]
    assert any(t["intermediate_values"] for t in finished)
    assert any(p["name"] == "lr" for p in finished[0]["params"])
