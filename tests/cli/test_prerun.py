"""One check before a run, for `automl run` and `automl validate`; run opens its study with
the sampler and pruner the check built (reseeded only when a resume must be)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from automl.cli.prerun import check_run
from automl.errors import AutoMLError
from automl.search import open_study
from tests.conftest import tiny_yaml


def _args(path: Path, **flags: object) -> argparse.Namespace:
    values: dict[str, object] = dict(
        backend=None, parallelism=None, n_trials=None, timeout=None, storage=None
    )
    return argparse.Namespace(spec=str(path), **(values | flags))


def test_the_check_builds_what_run_uses(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(tiny_yaml("checked", f"sqlite:///{tmp_path}/s.db", sampler="random"))
    checked = check_run(_args(path, n_trials=3))
    assert checked.spec.search.n_trials == 3 and checked.dataset is not None and checked.choices
    study = open_study(
        checked.spec, checked.spec.storage, sampler=checked.sampler, pruner=checked.pruner
    )
    assert study.sampler is checked.sampler and study.pruner is checked.pruner
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    again = check_run(_args(path, n_trials=3))  # a seeded sampler on a resume starts a new stream
    resumed = open_study(again.spec, again.spec.storage, sampler=again.sampler, pruner=again.pruner)
    assert resumed.sampler is not again.sampler and resumed.pruner is again.pruner


def test_the_check_refuses_what_validate_refuses(tmp_path: Path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(tiny_yaml("checked", "nosuchkind://x"))
    with pytest.raises(AutoMLError):
        check_run(_args(path))
