"""Tracker tests: tiny studies logged for real, and readers for what each tracker wrote.

No network: W&B runs offline (no account), in the study file and in the environment, with
every W&B folder under the test's tmp_path; MLflow's telemetry is switched off.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from automl.backends import InlineBackend
from automl.coordinator import Coordinator
from automl.search import open_study
from automl.studyfile import StudySpec, parse_spec
from automl.tracking import check_tracking, log_study
from automl.tracking import registry as tracking_registry
from tests.conftest import tiny_yaml


def needs(module: str) -> pytest.MarkDecorator:
    """Skip where ``module`` is not installed, without importing it at collection (MLflow and
    W&B take seconds to import: only the tests that run pay for it)."""
    return pytest.mark.skipif(
        importlib.util.find_spec(module) is None, reason=f"{module} is not installed"
    )


@pytest.fixture(autouse=True)
def _offline_wandb(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    home = tmp_path / "wandb-home"
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    for var in (
        "WANDB_DIR",
        "WANDB_CACHE_DIR",
        "WANDB_CONFIG_DIR",
        "WANDB_DATA_DIR",
        "WANDB_ARTIFACT_DIR",
    ):
        monkeypatch.setenv(var, str(home))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")  # MLflow 3 would phone home otherwise
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    # Each test starts with no tracker having warned yet in this process.
    monkeypatch.setattr(tracking_registry, "_warned", set())


@pytest.fixture
def tracked_spec(study_name: str, sqlite_url: str) -> Callable[..., StudySpec]:
    """The tiny study of tests/conftest.py with a ``tracking:`` section, checked as `automl run`
    does."""

    def make(tracking: str, **overrides: object) -> StudySpec:
        return check_tracking(
            parse_spec(tiny_yaml(study_name, sqlite_url, **overrides) + f"tracking: {tracking}\n")
        )

    return make


def run_tracked(spec: StudySpec) -> optuna.Study:
    """Run the study in this process (inline backend), then log its summary as `automl run` does."""
    study = open_study(spec, spec.storage)
    Coordinator(spec, study, InlineBackend(spec.storage, 1)).run()
    log_study(study, spec, spec.storage)
    return study


def finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return study.get_trials(deepcopy=False, states=states)


def add_ended_trials(study: optuna.Study) -> tuple[int, int]:
    """A pruned trial (at epoch 2) and a failed one, as a worker leaves them in the storage."""
    dists = {
        "lr": FloatDistribution(1e-3, 1e-1, log=True),
        "optimizer": CategoricalDistribution(["adamw", "sgd"]),
    }
    health = {"groups": ["layers.0.linear", "out"], "grad_norm": [[0.5, 0.25], [0.4, 0.2]],
              "weight_norm": [[1.0, 2.0], [1.1, 2.1]], "update_ratio": [[0.01, 0.02], [0.01, 0.02]],
              "max_grad_norm": [0.6, 0.5]}  # fmt: skip
    pruned = optuna.trial.create_trial(
        state=TrialState.PRUNED,
        params={"lr": 0.05, "optimizer": "sgd"},
        distributions=dists,
        intermediate_values={1: 0.4, 2: 0.45},
        user_attrs={
            "curve": [0.4, 0.45],
            "fold_curves": [[0.35, 0.4], [0.45, 0.5]],
            "health": health,
            "prune_reason": "pruned by the pruner",
            "pruned_at_epoch": 2,
            "host": "gpu-7",
            "slot": "gpu:1",
            "duration_s": 1.5,
        },
    )
    failed = optuna.trial.create_trial(
        state=TrialState.FAIL, params={"lr": 0.01, "optimizer": "adamw"}, distributions=dists,
        user_attrs={"fail_reason": "out of memory", "host": "gpu-7", "slot": "gpu:0"},
    )  # fmt: skip
    study.add_trial(pruned)
    study.add_trial(failed)
    numbers = [t.number for t in study.get_trials(deepcopy=False)]
    return numbers[-2], numbers[-1]


def close(a: float | None, b: float | None, rel: float = 1e-5) -> bool:
    return a is not None and b is not None and abs(a - b) <= rel * max(1.0, abs(b))


# ----------------------------------------------------------------------------- W&B offline runs


@dataclass
class WandbRun:
    """What one offline run folder holds, read back from its ``run-<id>.wandb`` file."""

    folder: Path
    run: Any = None  # the RunRecord (config, group, job_type, display_name, tags)
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None


def read_wandb_runs(root: Path) -> list[WandbRun]:
    """Every offline run under ``root``/wandb, parsed with W&B's own protobuf records."""
    from wandb.proto import wandb_internal_pb2 as pb

    runs = []
    for path in sorted(glob.glob(str(root / "wandb" / "offline-run-*" / "run-*.wandb"))):
        run = WandbRun(Path(path).parent)
        for data in _wandb_log_records(Path(path)):
            record = pb.Record()
            record.ParseFromString(data)
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run.run = record.run
                run.config |= {u.key: json.loads(u.value_json) for u in record.run.config.update}
            elif kind == "config":
                run.config |= {u.key: json.loads(u.value_json) for u in record.config.update}
            elif kind == "history":
                run.history.append({_key(i): json.loads(i.value_json) for i in record.history.item})
            elif kind == "summary":
                run.summary |= {_key(u): json.loads(u.value_json) for u in record.summary.update}
            elif kind == "exit":
                run.exit_code = record.exit.exit_code
        runs.append(run)
    return runs


def _key(item: Any) -> str:
    return item.key or "/".join(item.nested_key)


def _wandb_log_records(path: Path) -> Iterator[bytes]:
    """The records of a W&B transaction log (LevelDB log format: 32 KiB blocks, 7-byte headers)."""
    data = path.read_bytes()
    ident, _magic, _version = struct.unpack("<4sHB", data[:7])
    assert ident == b":W&B", f"{path} is not a W&B run file"
    block, pos, pending = 32768, 7, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # too little room for a header: the rest of the block is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pos += 7
        chunk, pos = data[pos : pos + length], pos + length
        if kind == 1:  # full
            yield chunk
        elif kind == 2:  # first
            pending = chunk
        elif kind == 3:  # middle
            pending += chunk
        elif kind == 4:  # last
            yield pending + chunk
        elif kind == 0 and length == 0:  # zero padding to the block's end
            pos += left - 7
