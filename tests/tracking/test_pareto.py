"""Several objectives in the trackers: each objective per step (``cv/<name>``), its final value
(``value/<name>``), and the Pareto front in the study's summary, for every tracker. The study is
tests/report/pareto_study.py: #0 and #1 on the front, #4 pruned."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

from automl.studyfile import StudySpec, parse_spec
from automl.tracking import check_tracking, log_study, log_trial, study_record, trial_record
from tests.conftest import tiny_yaml
from tests.report.pareto_study import FRONT, pareto_study
from tests.tracking.conftest import add_ended_trials, needs, read_wandb_runs

COMPLETE, PRUNED = 0, 4


@pytest.fixture
def tracked(study_name: str, sqlite_url: str) -> Callable[[str], tuple[StudySpec, optuna.Study]]:
    def make(tracking: str) -> tuple[StudySpec, optuna.Study]:
        spec, study = pareto_study(study_name, sqlite_url, f"tracking: {tracking}\n")
        return check_tracking(spec), study

    return make


def _log(spec: StudySpec, study: optuna.Study) -> None:
    for number in (COMPLETE, PRUNED):
        log_trial(study, spec, spec.storage, number)
    log_study(study, spec, spec.storage)


def test_records_carry_every_objective(study_name: str, sqlite_url: str) -> None:
    spec, study = pareto_study(study_name, sqlite_url)
    complete = trial_record(study.trials[COMPLETE], spec, sqlite_url)
    assert complete.value is None and complete.objectives == ("accuracy", "params")
    assert complete.values == {"accuracy": 0.9, "params": 3000.0}
    series = complete.step_series()
    assert series["cv/accuracy"] == {1: 0.5, 2: 0.9} and series["cv/params"] == {
        1: 3000.0,
        2: 3000.0,
    }
    summary = complete.summary()
    assert (
        summary["value/accuracy"] == 0.9
        and summary["value/params"] == 3000.0
        and "value" not in summary
    )
    pruned = trial_record(study.trials[PRUNED], spec, sqlite_url)
    assert pruned.values == {} and "value/accuracy" not in pruned.summary()
    assert pruned.step_series()["cv/accuracy"] == {1: 0.3, 2: 0.4} and pruned.steps() == [1, 2]
    record = study_record(study, spec, sqlite_url)
    assert record.best is None and record.front_numbers() == FRONT
    assert record.objectives == ("accuracy", "params") and record.directions == (
        "maximize",
        "minimize",
    )
    assert record.counts == {"COMPLETE": 4, "PRUNED": 2, "FAIL": 1, "RUNNING": 1}


def test_one_objective_records_are_as_before(study_name: str, sqlite_url: str) -> None:
    spec = parse_spec(tiny_yaml(study_name, sqlite_url))
    study = optuna.create_study(direction="maximize")
    pruned, _ = add_ended_trials(study)
    record = trial_record(study.trials[pruned], spec, sqlite_url)
    assert not record.multi and record.values == {} and record.objective_epochs == {}
    assert record.step_series()["cv/score"] == {1: 0.4, 2: 0.45} and record.steps() == [1, 2]


@needs("mlflow")
@pytest.mark.slow
def test_mlflow_logs_every_objective_and_the_front(
    tracked: Callable[[str], tuple[StudySpec, optuna.Study]], tmp_path: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec, study = tracked(f'{{mlflow: {{tracking_uri: "{uri}"}}}}')
    _log(spec, study)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(spec.name)
    assert exp is not None
    runs = {
        r.data.tags.get("automl.trial_number", "study"): r
        for r in client.search_runs([exp.experiment_id])
    }
    done, pruned, parent = runs[str(COMPLETE)], runs[str(PRUNED)], runs["study"]
    history = client.get_metric_history(done.info.run_id, "cv/accuracy")
    assert [(m.step, m.value) for m in history] == [(1, 0.5), (2, 0.9)]
    assert [m.value for m in client.get_metric_history(done.info.run_id, "cv/params")] == [
        3000.0,
        3000.0,
    ]
    assert (
        done.data.metrics["value/accuracy"] == 0.9 and done.data.metrics["value/params"] == 3000.0
    )
    assert (
        "value" not in done.data.metrics
        and done.data.tags["automl.objectives"] == "accuracy,params"
    )
    assert [m.value for m in client.get_metric_history(pruned.info.run_id, "cv/accuracy")] == [
        0.3,
        0.4,
    ]
    assert "value/accuracy" not in pruned.data.metrics
    assert (
        parent.data.tags["automl.front_trials"] == "0,1" and parent.data.metrics["front_size"] == 2
    )
    assert parent.data.tags["front.1"] == "accuracy=0.8, params=1000; lr=0.02, width=10"
    assert parent.data.metrics["n_complete"] == 4 and "best_value" not in parent.data.metrics


@needs("wandb")
@pytest.mark.slow
def test_wandb_logs_every_objective_and_the_front(
    tracked: Callable[[str], tuple[StudySpec, optuna.Study]], tmp_path: Path
) -> None:
    spec, study = tracked(f'{{wandb: {{mode: offline, dir: "{tmp_path / "wb"}"}}}}')
    _log(spec, study)
    runs = read_wandb_runs(tmp_path / "wb")
    trials = {
        r.config["automl"]["automl.trial_number"]: r for r in runs if r.run.job_type == "trial"
    }
    (summary,) = [r for r in runs if r.run.job_type == "study"]
    done = trials[COMPLETE]
    assert [(row["epoch"], row["cv/accuracy"], row["cv/params"]) for row in done.history] == [
        (1, 0.5, 3000),
        (2, 0.9, 3000),
    ]
    assert done.summary["value/accuracy"] == 0.9 and done.summary["value/params"] == 3000
    assert [row["cv/accuracy"] for row in trials[PRUNED].history] == [0.3, 0.4]
    assert summary.summary["front_trials"] == FRONT and summary.summary["front_size"] == 2
    assert summary.summary["front"][0] == {
        "number": 0,
        "values": {"accuracy": 0.9, "params": 3000},
        "params": {"lr": 0.01, "width": 30},
    }
    assert (
        summary.summary["objectives"] == ["accuracy", "params"]
        and "best_value" not in summary.summary
    )


@pytest.mark.slow
def test_tensorboard_logs_every_objective_and_the_front(
    tracked: Callable[[str], tuple[StudySpec, optuna.Study]], tmp_path: Path
) -> None:
    pytest.importorskip("tensorboard")
    from tests.tracking.test_tensorboard import _load, _text, _values

    spec, study = tracked(f'{{tensorboard: {{log_dir: "{tmp_path / "tb"}"}}}}')
    _log(spec, study)
    root = tmp_path / "tb" / spec.name
    done = _load(root / f"trial-{COMPLETE}")
    assert [(e.step, e.value) for e in done.Scalars("cv/accuracy")] == [
        (1, pytest.approx(0.5)),
        (2, pytest.approx(0.9)),
    ]
    assert _values(done, "cv/params") == [3000.0, 3000.0]
    assert _values(done, "hparam/accuracy") == [pytest.approx(0.9)] and _values(
        done, "hparam/params"
    ) == [3000.0]
    assert "| value/accuracy | 0.9 |" in _text(done, "automl/trial/text_summary")
    pruned = _load(root / f"trial-{PRUNED}")
    assert (
        _values(pruned, "cv/accuracy") == pytest.approx([0.3, 0.4])
        and "hparam/accuracy" not in pruned.Tags()["scalars"]
    )
    study_run = _load(root / "study")
    assert "| front_trials | 0, 1 |" in _text(study_run, "automl/study/text_summary")
    front = _text(study_run, "automl/front/text_summary")
    assert (
        "| trial | accuracy | params | hyperparameters |" in front
        and "| 1 | 0.8 | 1000 | lr=0.02, width=10 |" in front
    )
