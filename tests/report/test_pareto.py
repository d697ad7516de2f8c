"""Several objectives in what people read: `automl status`, the run's progress and summary,
and the HTML report (the front, pruned trials' last vectors, hypervolume, learning curves).
The study is built straight in Optuna (tests/report/pareto_study.py says what it holds)."""

from __future__ import annotations

import base64
import doctest
import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial
from rich.console import Console

import automl.report.objectives
import automl.report.pareto_figures
import automl.tracking.objectives
from automl.cli import main
from automl.coordinator.progress import RunState
from automl.report.objectives import objectives_of
from automl.report.pareto_figures import classify, hypervolume_trace, pareto_figure
from automl.report.progress import PlainProgress
from automl.report.summary import front_lines, study_status, summary_table
from automl.search import open_study
from automl.studyfile import StudySpec, parse_spec
from tests.browser import rendered_dom
from tests.conftest import tiny_yaml
from tests.report.pareto_study import FRONT, HYPERVOLUMES, REFERENCE, pareto_study


@pytest.fixture
def study(sqlite_url: str, study_name: str) -> tuple[StudySpec, optuna.Study]:
    return pareto_study(study_name, sqlite_url)


def test_status_json_shows_the_front_with_values_by_name(
    study: tuple[StudySpec, optuna.Study], capsys: pytest.CaptureFixture[str]
) -> None:
    spec, s = study
    assert main(["status", "--storage", spec.storage, "--study", spec.name, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["directions"] == ["maximize", "minimize"] and info["metric_names"] == [
        "accuracy",
        "params",
    ]
    assert info["best"] is None and info["direction"] is None
    assert [t["number"] for t in info["front"]] == FRONT
    assert info["front"][0]["values"] == {"accuracy": 0.9, "params": 3000.0}
    assert info["front"][1] == {
        "number": 1,
        "values": {"accuracy": 0.8, "params": 1000.0},
        "params": {"lr": 0.02, "width": 10},
        "best_epoch": 2,
    }
    # Counts, running trials and failure reasons as for one objective.
    assert info["counts"] == {"complete": 4, "pruned": 2, "fail": 1, "running": 1}
    assert [r["number"] for r in info["running"]] == [7] and info["running"][0]["host"] == "box"
    assert info["failure_reasons"] == {"out of memory": 1}
    assert study_status(s, 0.0)["front"] == info["front"]


def test_status_prints_the_front_as_a_table(
    study: tuple[StudySpec, optuna.Study],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec, _ = study
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["status", "--storage", spec.storage, "--study", spec.name]) == 0
    out = capsys.readouterr().out
    assert (
        f"{spec.name} (accuracy maximize, params minimize): complete 4, fail 1, pruned 2, running 1"
        in out
    )
    assert "Pareto front (2 trials)" in out and "best" not in out
    rows = [line for line in out.splitlines() if re.match(r"^│\s+[01] │", line)]
    assert [[c.strip() for c in r.split("│")[1:4]] for r in rows] == [
        ["0", "0.9000", "3000"],
        ["1", "0.8000", "1000"],
    ]
    assert "lr=0.01, width=30" in rows[0] and "failed 1x: out of memory" in out


def test_one_objective_status_keeps_its_keys(
    sqlite_url: str, study_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = parse_spec(tiny_yaml(study_name, sqlite_url))
    s = open_study(spec, sqlite_url)
    s.add_trial(create_trial(value=0.8, params={}, distributions={}))
    assert main(["status", "--storage", sqlite_url, "--study", study_name, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info) == {"study", "direction", "counts", "best", "running", "failure_reasons"}
    assert info["direction"] == "maximize" and info["best"]["value"] == 0.8


def test_the_run_summary_and_closing_lines_show_the_front(
    study: tuple[StudySpec, optuna.Study],
) -> None:
    _, s = study
    console = Console(record=True, width=140)
    console.print(summary_table(s))
    table = console.export_text()
    assert "Pareto front (2 trials)" in table and "accuracy" in table and "hyperparameters" in table
    assert "complete 4" in table
    assert front_lines(s) == [
        "Pareto front of accuracy (maximize), params (minimize): 2 trials",
        "  trial 0: accuracy 0.9000, params 3000; lr=0.01, width=30",
        "  trial 1: accuracy 0.8000, params 1000; lr=0.02, width=10",
    ]
    assert front_lines(s, k=1)[-1] == "  and 1 more (automl status)"


def test_plain_progress_names_the_front(
    study: tuple[StudySpec, optuna.Study], caplog: pytest.LogCaptureFixture
) -> None:
    _, s = study
    trials = s.get_trials(deepcopy=False)
    state = RunState(
        n_trials=8,
        timeout_s=None,
        counts={"COMPLETE": 4, "PRUNED": 2},
        front=[trials[0], trials[1]],
    )
    with caplog.at_level(logging.INFO, logger="automl.progress"):
        PlainProgress("pareto", ["accuracy", "params"]).update(state, trials[3])
        PlainProgress("pareto").update(state, trials[1])  # names from the trial's metrics attribute
        PlainProgress("pareto").update(state, trials[4])
    first, second, pruned = caplog.messages
    assert (
        "trial 3 COMPLETE accuracy 0.9500, params 8000 (infeasible: breaks a constraint)" in first
    )
    assert (
        "Pareto front: 2 trials; #0: accuracy 0.9000, params 3000; #1: accuracy 0.8000, params 1000"
        in first
    )
    assert "trial 1 COMPLETE accuracy 0.8000, params 1000 |" in second
    assert "trial 4 PRUNED - (pruned by the pruner)" in pruned


def _plot(page: str, key: str) -> list[dict[str, Any]]:
    """The traces of plot ``key`` as the page embeds them (typed arrays decoded)."""
    call = re.search(rf'Plotly\.newPlot\(\s*"plot-{re.escape(key)}",\s*', page)
    assert call, f"no plot {key}"
    data, _ = json.JSONDecoder().raw_decode(page, call.end())
    return [_decoded(trace) for trace in data]


def _decoded(value: Any) -> Any:
    if isinstance(value, dict) and set(value) >= {"dtype", "bdata"}:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    if isinstance(value, dict):
        return {k: _decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


def test_report_holds_the_front_pruned_vectors_hypervolume_and_curves(
    study: tuple[StudySpec, optuna.Study], tmp_path: Path
) -> None:
    spec, s = study
    out = tmp_path / "report.html"
    assert main(["report", "--storage", spec.storage, "--study", spec.name, "-o", str(out)]) == 0
    page = out.read_text()
    assert "accuracy (maximize), params (minimize) on sklearn:digits" in page
    assert (
        "constraints: params &lt;= 5000" in page
        and "Pareto front: 2 trials (#0, #1); 1 complete trial infeasible" in page
    )
    traces = {t["name"]: t for t in _plot(page, "pareto")}
    assert set(traces) == {"Pareto front", "complete", "infeasible", "pruned (last epoch)"}
    front = traces["Pareto front"]
    assert front["customdata"] == [1, 0] and front["x"] == [0.8, 0.9] and front["y"] == [1000, 3000]
    assert traces["complete"]["customdata"] == [2] and traces["infeasible"]["customdata"] == [3]
    pruned = traces["pruned (last epoch)"]  # #4 from its metrics, #5 from its last epoch
    assert (
        pruned["customdata"] == [4, 5]
        and pruned["x"] == [0.4, 0.35]
        and pruned["y"] == [4000, 4500]
    )
    (hv,) = _plot(page, "hypervolume")
    assert hv["customdata"] == [0, 1, 2, 3] and hv["y"] == pytest.approx(HYPERVOLUMES)
    assert "10% of its range further: accuracy 0.6800, params 3200" in page
    curves = _plot(page, "curves")
    by_trial = {(t["hovertemplate"].split(",")[0], t.get("yaxis", "y")): t for t in curves}
    assert by_trial[("trial #5", "y")]["y"] == [0.2, 0.35] and by_trial[("trial #5", "y2")][
        "y"
    ] == [4500, 4500]
    assert by_trial[("trial #0", "y")]["x"] == [1, 2]
    for key in ("history-1", "history-2", "importances", "parallel", "slices", "folds"):
        assert f'id="plot-{key}"' in page, key
    # The trial table: a column per objective and where each trial stands.
    table = page[page.index("<table class='sortable'") :]
    assert (
        "<th>accuracy</th><th>params</th><th>front</th>" in table
        and table.count(">infeasible<") == 1
    )
    # a pruned trial's last epoch, from the attribute
    row = re.search(r"<tr><td class='num' data-v='5'>.*?</tr>", table)
    assert row and re.findall(r"<td class='num' data-v='([^']*)'>", row.group(0))[:6] == [
        "5",
        "",
        "",
        "",
        "2",
        "",
    ]


@pytest.mark.slow  # headless Chromium
def test_report_plots_are_drawn_in_a_browser(
    study: tuple[StudySpec, optuna.Study], tmp_path: Path
) -> None:
    spec, _ = study
    out = tmp_path / "report.html"
    assert (
        main(["report", "--storage", spec.storage, "--study", spec.name, "-o", str(out), "-q"]) == 0
    )
    dom = rendered_dom(out.as_uri())
    for key in (
        "pareto",
        "hypervolume",
        "history-1",
        "history-2",
        "curves",
        "parallel",
        "slices",
        "folds",
    ):
        section = re.search(rf"<section id=\"{key}\">(.*?)</section>", dom, re.S)
        assert section and "main-svg" in section.group(1), f"plot {key} was not drawn"


def test_hypervolume_and_reference_point_by_hand(study: tuple[StudySpec, optuna.Study]) -> None:
    _, s = study
    trace = hypervolume_trace(s.get_trials(deepcopy=False), objectives_of(s))
    assert trace is not None
    assert trace.numbers == [0, 1, 2, 3] and trace.values == pytest.approx(HYPERVOLUMES)
    assert trace.reference == pytest.approx(REFERENCE)


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_three_objectives_get_a_scatter_matrix() -> None:
    s = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    s.set_metric_names(["accuracy", "params", "flops"])
    for values in ([0.9, 3, 30], [0.8, 1, 10], [0.7, 2, 40]):
        s.add_trial(create_trial(values=values, params={}, distributions={}))
    s.add_trial(
        create_trial(
            state=TrialState.PRUNED,
            params={},
            distributions={},
            user_attrs={"metrics": {"accuracy": 0.5, "params": 4, "flops": 50}},
        )
    )
    objectives = objectives_of(s)
    fig = pareto_figure(s.get_trials(), objectives).figure
    assert fig is not None
    assert {t.type for t in fig.data} == {"splom"}
    assert {t.name: list(t.customdata) for t in fig.data} == {
        "Pareto front": [1, 0],
        "complete": [2],
        "pruned (last epoch)": [3],
    }
    assert [d["label"] for d in fig.data[0].dimensions] == ["accuracy", "params", "flops"]
    assert [t.number for t, _ in classify(s.get_trials(), objectives)["front"]] == [0, 1]


def test_an_empty_multi_objective_study_says_what_is_missing(
    sqlite_url: str, study_name: str, tmp_path: Path
) -> None:
    from tests.report.pareto_study import pareto_spec

    spec = pareto_spec(study_name, sqlite_url)
    open_study(spec, sqlite_url)
    out = tmp_path / "r.html"
    assert main(["report", "--storage", sqlite_url, "--study", study_name, "-o", str(out)]) == 0
    page = out.read_text()
    assert "no feasible complete trial yet" in page and "no trial reported an epoch yet" in page
    assert main(["status", "--storage", sqlite_url, "--study", study_name]) == 0


@pytest.mark.parametrize(
    "module", [automl.report.objectives, automl.report.pareto_figures, automl.tracking.objectives]
)
def test_doctests(module: Any) -> None:
    result = doctest.testmod(module)
    assert result.attempted and not result.failed


RUN_YAML = """
name: {name}
storage: {storage}
objective: [{{metric: accuracy}}, {{metric: params}}]
data:
  source: sklearn:make_classification
  options: {{n_samples: 200, n_features: 10, n_informative: 6, random_state: 0}}
  cv: {{folds: 2, seed: 0}}
trainer: {{epochs: 2, batch_size: 64}}
space: {{lr: {{low: 1.0e-3, high: 1.0e-1, log: true}}, width: {{low: 8, high: 64, log: true}}}}
search: {{sampler: {{type: random, seed: 0}}, pruner: {{type: none}}, n_trials: 3}}
"""


@pytest.mark.slow  # starts worker processes and trains
def test_automl_run_ends_with_the_front(
    sqlite_url: str,
    study_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "s.yaml"
    path.write_text(RUN_YAML.format(name=study_name, storage=sqlite_url))
    assert main(["run", str(path)]) == 0
    out = capsys.readouterr().out
    front = optuna.load_study(study_name=study_name, storage=sqlite_url).best_trials
    head = (
        f"Pareto front of accuracy (maximize), params (minimize): {len(front)} "
        f"trial{'s' if len(front) != 1 else ''}"
    )
    assert head in out and f"study {study_name}: Pareto front (" in out
    members = re.findall(r"^  trial (\d+): accuracy [\d.]+, params \d+; lr=", out, re.M)
    assert len(members) == min(3, len(front)) and {int(m) for m in members} <= {
        t.number for t in front
    }
    assert "stopped: n_trials reached" in out and "best accuracy" not in out
