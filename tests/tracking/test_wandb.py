"""W&B in offline mode: a tiny study's run files read back with W&B's own protobuf records."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from automl.studyfile import StudySpec
from automl.tracking import log_trial
from tests.tracking.conftest import (
    add_ended_trials,
    close,
    finished,
    needs,
    read_wandb_runs,
    run_tracked,
)

# Seconds each, most of it importing W&B and writing its offline runs.
pytestmark = [needs("wandb"), pytest.mark.slow]


def test_every_trial_is_an_offline_run_in_the_study_group(
    tracked_spec: Callable[..., StudySpec], tmp_path: Path
) -> None:
    spec = tracked_spec(f'{{wandb: {{mode: offline, dir: "{tmp_path / "wb"}"}}}}', n_trials=3)
    study = run_tracked(spec)
    runs = read_wandb_runs(tmp_path / "wb")
    assert all(r.run.project == spec.name and r.run.run_group == spec.name for r in runs)
    by_role = {r.run.job_type: [x for x in runs if x.run.job_type == r.run.job_type] for r in runs}
    trial_runs = {r.config["automl"]["automl.trial_number"]: r for r in by_role["trial"]}
    trials = finished(study)
    assert sorted(trial_runs) == [t.number for t in trials] and len(trials) == 3
    for t in trials:
        run = trial_runs[t.number]
        assert run.run.display_name == f"trial-{t.number}"
        assert {k: run.config[k] for k in t.params} == t.params
        assert run.config["automl"]["automl.storage"] == spec.storage
        curve = t.user_attrs["curve"]
        assert [row["epoch"] for row in run.history] == list(range(1, len(curve) + 1))
        assert [row["cv/score"] for row in run.history] == pytest.approx(curve)
        assert [row["cv/fold_2"] for row in run.history] == pytest.approx(
            t.user_attrs["fold_curves"][1]
        )
        group = t.user_attrs["health"]["groups"][0]
        assert [row[f"health/grad_norm/{group}"] for row in run.history] == pytest.approx(
            [e[0] for e in t.user_attrs["health"]["grad_norm"]]
        )
        assert run.summary["state"] == t.state.name and run.summary["slot"] == "inline"
        assert run.summary["host"] == t.user_attrs["host"]
        assert run.summary["automl"]["automl.study"] == spec.name
        if t.state == TrialState.COMPLETE:
            assert close(run.summary["value"], t.value)
        assert run.exit_code == 0

    (summary,) = by_role["study"]
    assert summary.run.display_name == f"{spec.name}-summary"
    assert summary.summary["best_trial"] == study.best_trial.number
    assert close(summary.summary["best_value"], study.best_value)
    assert summary.config["best_params"] == study.best_trial.params


def test_pruned_and_failed_trials_show_their_state(
    tracked_spec: Callable[..., StudySpec], tmp_path: Path
) -> None:
    spec = tracked_spec(f'{{wandb: {{project: tests, dir: "{tmp_path / "wb"}"}}}}')
    study = optuna.create_study(direction="maximize")
    pruned, failed = add_ended_trials(study)
    log_trial(study, spec, spec.storage, pruned)
    log_trial(study, spec, spec.storage, failed)
    runs = {r.config["automl"]["automl.trial_number"]: r for r in read_wandb_runs(tmp_path / "wb")}
    p, f = runs[pruned], runs[failed]
    assert p.summary["state"] == "PRUNED" and p.summary["pruned_at_epoch"] == 2 and p.exit_code == 0
    assert p.summary["reason"] == "pruned by the pruner" and "pruned" in p.run.tags
    assert [row["cv/score"] for row in p.history] == pytest.approx([0.4, 0.45])
    assert (
        f.summary["state"] == "FAIL" and f.summary["reason"] == "out of memory" and f.exit_code == 1
    )
    assert f.run.project == "tests" and f.history == []
