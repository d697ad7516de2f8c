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
def test_quickstart_runs_to_completion_and_prints_the_best_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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


ROOT = Path(__file__).parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("example", ["own_function.yaml", "own_program.yaml"])
def test_the_own_code_examples_run_from_the_repository_root(tmp_path: Path, example: str) -> None:
    """As README says: `automl run studies/own_function.yaml` from the repository's root."""
    import subprocess
    import sys

    url = str(tmp_path / "own.journal")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "automl",
            "run",
            f"studies/{example}",
            "--storage",
            url,
            "--n-trials",
            "3",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "best val_accuracy" in done.stdout
    study, _spec = load_study(url, example.removesuffix(".yaml").replace("_", "-"))
    assert len([t for t in study.trials if t.state in COUNTED_STATES]) == 3
    assert study.best_value > 0.9  # a small CNN on digits
    assert all(t.user_attrs["epochs_run"] >= 1 for t in study.trials)


@pytest.mark.slow
def test_the_pareto_example_ends_with_a_feasible_front(tmp_path: Path) -> None:
    """studies/digits_pareto.yaml: accuracy against params under a bound, pruned by Hyperband."""
    url = f"sqlite:///{tmp_path / 'pareto.db'}"
    assert (
        main(
            [
                "run",
                str(ROOT / "studies" / "digits_pareto.yaml"),
                "--storage",
                url,
                "--n-trials",
                "10",
            ]
        )
        == 0
    )
    study, spec = load_study(url, "digits-pareto")
    assert spec.multi and study.metric_names == ["accuracy", "params"]
    assert len([t for t in study.trials if t.state in COUNTED_STATES]) == 10
    front = study.best_trials
    assert front and all(t.values[1] <= 50_000 and t.constraints["params.max"] <= 0 for t in front)
    assert max(t.values[0] for t in front) > 0.9  # digits with a sensible MLP
    app_trials = _dashboard_trials(url, "digits-pareto")
    assert all(len(t["values"]) == 2 for t in app_trials if t["state"] == "Complete")


def _dashboard_trials(url: str, name: str) -> list[Any]:
    from optuna_dashboard import wsgi

    app = wsgi(make_storage(url, cached=False))
    study = next(
        s for s in _call(app, "/api/studies")["study_summaries"] if s["study_name"] == name
    )
    detail = _call(app, f"/api/studies/{study['study_id']}")
    assert detail["objective_names"] == ["accuracy", "params"] and detail["directions"] == [
        "maximize",
        "minimize",
    ]
    assert {t["number"] for t in detail["best_trials"]} == {
        t.number for t in load_study(url, name)[0].best_trials
    }
    return detail["trials"]  # type: ignore[no-any-return]


@pytest.mark.slow
def test_the_own_script_example_is_tuned_as_it_is(tmp_path: Path) -> None:
    """studies/own_script.yaml: a nanoGPT-shaped script with no automl in it, read from its log."""
    import subprocess
    import sys

    url = str(tmp_path / "script.journal")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "automl",
            "run",
            "studies/own_script.yaml",
            "--storage",
            url,
            "--n-trials",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    study, _spec = load_study(url, "own-script")
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert complete and study.best_value < 0.5  # digits' validation loss, read from its lines
    assert all(sorted(t.intermediate_values) == list(range(1, 13)) for t in complete)
    assert all(t.value == min(t.intermediate_values.values()) for t in complete)  # final: best
