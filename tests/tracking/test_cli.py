"""`automl run` on the real local backend: worker processes log their own trials to all three
trackers at once, and the coordinator logs the study summary when the run ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl.cli import main
from automl.search import load_study
from tests.conftest import tiny_yaml
from tests.tracking.conftest import finished, needs, read_wandb_runs

pytestmark = [needs("mlflow"), needs("wandb"), needs("tensorboard")]


@pytest.mark.slow
def test_run_on_worker_processes_logs_every_trial_to_every_tracker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)  # the study file's relative tracking paths are taken from here
    path = tmp_path / "study.yaml"
    url = f"sqlite:///{tmp_path / 'study.db'}"
    path.write_text(
        tiny_yaml("cli-tracked", url, n_trials=2, parallelism=2)
        + 'tracking:\n  mlflow: {tracking_uri: "sqlite:///mlflow.db"}\n'
        + "  wandb: {mode: offline, dir: wb}\n  tensorboard: {log_dir: runs}\n"
    )
    assert main(["run", str(path)]) == 0
    study, _ = load_study(url, "cli-tracked")
    trials = finished(study)
    numbers = sorted(t.number for t in trials)
    assert len(numbers) == 2
    slots = {t.user_attrs["slot"] for t in trials}
    assert slots <= {"local:0", "local:1"}

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("cli-tracked")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    children = [r for r in runs if r.data.tags["automl.role"] == "trial"]
    (parent,) = [r for r in runs if r.data.tags["automl.role"] == "study"]
    assert sorted(int(r.data.tags["automl.trial_number"]) for r in children) == numbers
    assert {r.data.tags["automl.slot"] for r in children} == slots
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent.info.run_id}
    assert parent.data.tags["automl.best_trial"] == str(study.best_trial.number)

    wandb_runs = read_wandb_runs(tmp_path / "wb")
    trial_runs = [r for r in wandb_runs if r.run.job_type == "trial"]
    assert sorted(r.config["automl"]["automl.trial_number"] for r in trial_runs) == numbers
    assert [r.run.job_type for r in wandb_runs].count("study") == 1

    folders = sorted(p.name for p in (tmp_path / "runs" / "cli-tracked").iterdir())
    assert folders == sorted([f"trial-{n}" for n in numbers] + ["study"])
