"""automl.TrialContext and train: python:... as a user meets them, without a worker."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

import automl
from automl.errors import SpecError, TrialPreempted, TrialPruned
from automl.search.checkpoints import AtomicFileSystemStore, LineageCheckpoint
from automl.training import checkpoint as checkpoint_module
from automl.training.reporter import NullReporter
from automl.usercode.function import import_function, run_function


class PruneAt(NullReporter):
    def __init__(self, step: int) -> None:
        super().__init__()
        self.step = step

    def should_prune(self) -> bool:
        return max(self.values, default=0) >= self.step


def context(
    tmp_path: Path, reporter: NullReporter | None = None, identity: str = "a"
) -> automl.TrialContext:
    slot = LineageCheckpoint(AtomicFileSystemStore(tmp_path / "store"), "k")
    return automl.TrialContext(
        {"lr": 0.1}, 3, 0, reporter or NullReporter(), slot, identity=identity
    )


def test_the_public_names() -> None:
    assert automl.TrialPruned is TrialPruned
    assert automl.TrialContext.__name__ == "TrialContext"


def test_report_raises_pruned_when_the_pruner_says_so(tmp_path: Path) -> None:
    trial = context(tmp_path, PruneAt(2))
    trial.report(0.5, 1)
    with pytest.raises(automl.TrialPruned):
        trial.report(0.6, 2)


def test_a_checkpoint_comes_back_with_the_values_so_far(tmp_path: Path) -> None:
    first = context(tmp_path)
    assert first.load_checkpoint() is None and first.params == {"lr": 0.1} and first.number == 3
    first.report(0.5, 1)
    first.log(loss=2.0)
    first.report(0.7, 2)
    first.save_checkpoint({"step": 2, "weights": [1.0, 2.0]})
    reporter = NullReporter()
    again = context(tmp_path, reporter)
    assert again.load_checkpoint() == {"step": 2, "weights": [1.0, 2.0]}
    assert reporter.values == {1: 0.5, 2: 0.7} and again.resumed_from_step == 2
    again.report(0.8, 3)
    assert again.curve == [0.5, 0.7, 0.8] and again.user_metrics == {"loss": [2.0, None, None]}
    assert context(tmp_path, identity="other params").load_checkpoint() is None


def test_preemption_stops_at_the_next_save_after_saving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint_module, "_preempt", type(checkpoint_module._preempt)())
    trial = context(tmp_path)
    trial.save_checkpoint({"step": 0})
    checkpoint_module.request_preemption()
    trial.report(0.5, 1)  # a function that saves is stopped by its save, not by report
    with pytest.raises(TrialPreempted):
        trial.save_checkpoint({"step": 1})
    assert context(tmp_path).load_checkpoint() == {"step": 1}


def test_a_function_written_for_optuna_is_pruned_too(tmp_path: Path) -> None:
    def fit(params: dict, trial: automl.TrialContext) -> float:
        trial.report(1.0, 4)
        raise optuna.TrialPruned()

    with pytest.raises(TrialPruned) as pruned:
        run_function(fit, context(tmp_path))
    assert pruned.value.epoch == 4


@pytest.mark.parametrize(
    ("value", "message"), [(None, "returned no value"), ("high", "returned str")]
)
def test_a_function_must_return_a_number(tmp_path: Path, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_function(lambda params, trial: value, context(tmp_path))


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("python:tests.no_such_module:fit", "cannot import 'tests.no_such_module'"),
        ("python:tests.own_code:nope", "has no function 'nope'"),
        ("python:tests.own_code:main", "must take two arguments"),
    ],
)
def test_validate_names_what_is_wrong_with_the_function(ref: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        import_function(ref)
    assert callable(import_function("python:tests.own_code:fit"))
