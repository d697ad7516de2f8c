"""MLflow: a tiny study logged to a local SQLite store, read back through MlflowClient."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import pytest
from optuna.trial import TrialState

from automl.studyfile import StudySpec
from automl.tracking import log_trial
from tests.tracking.conftest import add_ended_trials, close, finished, needs, run_tracked

if TYPE_CHECKING:
    from mlflow import MlflowClient

# Seconds each, most of it importing MLflow and opening its store.
pytestmark = [needs("mlflow"), pytest.mark.slow]


def _runs(client: MlflowClient, experiment: str, role: str) -> list[Any]:
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r}"
    return list(
        client.search_runs([exp.experiment_id], f"tags.`automl.role` = '{role}'", max_results=1000)
    )


def test_every_trial_is_a_run_with_params_curves_and_state(
    tracked_spec: Callable[..., StudySpec], tmp_path: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = tracked_spec(f'{{mlflow: {{tracking_uri: "{uri}"}}}}', n_trials=3)
    study = run_tracked(spec)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)

    (parent,) = _runs(client, spec.name, "study")
    children = {
        int(r.data.tags["automl.trial_number"]): r for r in _runs(client, spec.name, "trial")
    }
    trials = finished(study)
    assert sorted(children) == [t.number for t in trials] and len(trials) == 3
    for t in trials:
        run = children[t.number]
        assert run.info.run_name == f"trial-{t.number}"
        assert run.data.params == {k: str(v) for k, v in t.params.items()}
        tags = run.data.tags
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert tags["automl.study"] == spec.name and tags["automl.storage"] == spec.storage
        assert tags["automl.state"] == t.state.name
        assert tags["automl.host"] == t.user_attrs["host"] and tags["automl.slot"] == "inline"
        assert (
            run.info.status
            == {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "KILLED"}[t.state]
        )
        # The fold-mean curve, every fold's curve and the gradient health, epoch by epoch.
        history = client.get_metric_history(run.info.run_id, "cv/score")
        assert [m.step for m in history] == list(range(1, len(t.user_attrs["curve"]) + 1))
        assert all(close(m.value, v) for m, v in zip(history, t.user_attrs["curve"], strict=True))
        for f, curve in enumerate(t.user_attrs["fold_curves"], start=1):
            assert [
                m.value for m in client.get_metric_history(run.info.run_id, f"cv/fold_{f}")
            ] == pytest.approx(curve)
        health = t.user_attrs["health"]
        for g, group in enumerate(health["groups"]):
            grad = [
                m.value
                for m in client.get_metric_history(run.info.run_id, f"health/grad_norm/{group}")
            ]
            assert grad == pytest.approx([row[g] for row in health["grad_norm"]])
            assert client.get_metric_history(run.info.run_id, f"health/update_ratio/{group}")
        if t.state == TrialState.COMPLETE:
            assert close(run.data.metrics["value"], t.value)

    best = study.best_trial
    assert parent.info.run_name == spec.name and parent.info.status == "FINISHED"
    assert parent.data.tags["automl.best_trial"] == str(best.number)
    assert close(parent.data.metrics["best_value"], best.value)
    assert parent.data.tags["best.lr"] == str(best.params["lr"])
    assert parent.data.metrics["n_complete"] == sum(t.state == TrialState.COMPLETE for t in trials)


def test_pruned_and_failed_trials_keep_their_state_reason_and_masked_storage(
    tracked_spec: Callable[..., StudySpec], tmp_path: Path
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = tracked_spec(f'{{mlflow: {{tracking_uri: "{uri}", experiment: tests}}}}')
    study = optuna.create_study(direction="maximize")
    pruned, failed = add_ended_trials(study)
    secret_url = "postgresql://automl:s3cret@db.internal:5432/automl"
    log_trial(study, spec, secret_url, pruned)
    log_trial(study, spec, secret_url, failed)
    log_trial(study, spec, secret_url, failed)  # logged twice: still one run

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    runs = {int(r.data.tags["automl.trial_number"]): r for r in _runs(client, "tests", "trial")}
    assert sorted(runs) == [pruned, failed]
    p, f = runs[pruned], runs[failed]
    assert p.info.status == "KILLED" and p.data.tags["automl.state"] == "PRUNED"
    assert (
        p.data.tags["automl.pruned_at_epoch"] == "2"
        and p.data.tags["automl.reason"] == "pruned by the pruner"
    )
    assert p.data.tags["automl.slot"] == "gpu:1" and p.data.tags["automl.host"] == "gpu-7"
    assert [m.value for m in client.get_metric_history(p.info.run_id, "cv/score")] == pytest.approx(
        [0.4, 0.45]
    )
    assert "value" not in p.data.metrics
    assert f.info.status == "FAILED" and f.data.tags["automl.reason"] == "out of memory"
    for run in (p, f):
        assert run.data.tags["automl.storage"] == "postgresql://automl:***@db.internal:5432/automl"
        assert "s3cret" not in repr(run.data)
