"""Trackers are optional: imported only when named, checked before anything is written, and a
tracker that breaks mid-study costs one warning, never a trial."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from automl.cli import main
from automl.search import COUNTED_STATES
from automl.studyfile import StudySpec, parse_spec
from automl.tracking import check_tracking
from tests.conftest import tiny_yaml
from tests.tracking.conftest import run_tracked

TRACKER_MODULES = {"mlflow": "mlflow", "wandb": "wandb", "tensorboard": "torch.utils.tensorboard"}
SECTIONS = {
    "mlflow": '{mlflow: {tracking_uri: "sqlite:///m.db"}}',
    "wandb": "{wandb: {mode: offline}}",
    "tensorboard": "{tensorboard: {log_dir: runs}}",
}


@pytest.mark.parametrize("tracker", sorted(TRACKER_MODULES))
def test_a_tracker_that_is_not_installed_exits_2_with_the_install_hint(
    tracker: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, TRACKER_MODULES[tracker], None)  # `import` now fails
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "study.db"
    path = tmp_path / "study.yaml"
    path.write_text(tiny_yaml("missing", f"sqlite:///{db}") + f"tracking: {SECTIONS[tracker]}\n")
    for command in ("validate", "run"):
        assert main([command, str(path)]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert f"tracking.{tracker}: {tracker} is not installed" in err
        assert f"pip install 'automl[{tracker}]'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yaml"]  # nothing written


@pytest.mark.slow  # a fresh interpreter that imports automl and torch
def test_trackers_are_imported_only_when_named() -> None:
    code = textwrap.dedent(
        f"""
        import sys
        import automl, automl.cli, automl.runner.execute, automl.tracking
        from automl.studyfile import parse_spec
        from automl.tracking import check_tracking, make_trackers
        text = {tiny_yaml("plain", "sqlite:///unused.db")!r}
        check_tracking(parse_spec(text))
        assert make_trackers(parse_spec(text)) == []
        heavy = ("mlflow", "wandb", "tensorboard", "torch.utils.tensorboard")
        assert not [m for m in heavy if m in sys.modules], [m for m in heavy if m in sys.modules]
        spec = check_tracking(parse_spec(text + "tracking: {{tensorboard: \
{{log_dir: /tmp/x}}}}\\n"))
        assert [t.name for t in make_trackers(spec)] == ["tensorboard"]
        assert "mlflow" not in sys.modules and "wandb" not in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.slow  # checking the tracking section imports MLflow and W&B: seconds
def test_relative_paths_are_taken_from_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = tiny_yaml("rel", "sqlite:///s.db") + textwrap.dedent(
        """
        tracking:
          mlflow: {tracking_uri: "sqlite:///track/mlflow.db"}
          wandb: {dir: wb}
          tensorboard: {log_dir: runs}
        """
    )
    tracking = check_tracking(parse_spec(text)).tracking
    assert (
        tracking.mlflow is not None
        and tracking.mlflow.tracking_uri == f"sqlite:///{tmp_path}/track/mlflow.db"
    )
    assert tracking.wandb is not None and tracking.wandb.dir == str(tmp_path / "wb")
    assert tracking.tensorboard is not None and tracking.tensorboard.log_dir == str(
        tmp_path / "runs"
    )
    for uri, want in [
        ("file:./mlruns", f"file://{tmp_path}/mlruns"),
        ("mlruns", str(tmp_path / "mlruns")),
        ("http://mlflow:5000", "http://mlflow:5000"),
        ("sqlite:////abs/m.db", "sqlite:////abs/m.db"),
    ]:
        spec = check_tracking(
            parse_spec(
                tiny_yaml("rel", "sqlite:///s.db")
                + f'tracking: {{mlflow: {{tracking_uri: "{uri}"}}}}\n'
            )
        )
        assert spec.tracking.mlflow is not None and spec.tracking.mlflow.tracking_uri == want


# MLflow: seconds to import
@pytest.mark.parametrize("tracker", ["tensorboard", pytest.param("mlflow", marks=pytest.mark.slow)])
def test_a_broken_tracker_costs_one_warning_and_no_trial(
    tracker: str,
    tracked_spec: Callable[..., StudySpec],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocker = tmp_path / "a-file"  # a folder is wanted where a file is: every write fails
    blocker.write_text("not a folder")
    section = {
        "tensorboard": f'{{tensorboard: {{log_dir: "{blocker / "runs"}"}}}}',
        "mlflow": f'{{mlflow: {{tracking_uri: "sqlite:///{blocker / "mlflow.db"}"}}}}',
    }[tracker]
    spec = tracked_spec(section, n_trials=4)
    with caplog.at_level(logging.DEBUG, logger="automl.tracking"):
        study = run_tracked(spec)
    trials = study.get_trials()
    assert len([t for t in trials if t.state in COUNTED_STATES]) == 4 == len(trials)
    warnings = [
        r
        for r in caplog.records
        if r.name.startswith("automl.tracking") and r.levelno >= logging.WARNING
    ]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert (
        warnings[0].getMessage().startswith(f"{tracker} could not log trial 0 of study {spec.name}")
    )
    later = [
        r
        for r in caplog.records
        if r.name.startswith("automl.tracking") and r.levelno == logging.DEBUG
    ]
    assert len(later) == 4  # three more trials and the study summary, at debug level
