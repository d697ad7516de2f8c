"""What the runner tells the storage for each way a trial can end, whoever raised it."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from automl.runner import TrialHost, execute_trial
from automl.search import open_study
from automl.search.study import ask
from automl.studyfile import parse_spec
from automl.trial_attrs import FAIL_REASON, PRUNE_REASON

STUDY = """
name: outcomes
storage: {storage}
objective: {{metric: accuracy}}
data:
  source: sklearn:make_classification
  options: {{n_samples: 60, n_features: 4, n_informative: 3, n_redundant: 0, random_state: 0}}
  cv: {{folds: 2}}
model: {{family: "python:tests.builders:{builder}"}}
trainer: {{epochs: 2, batch_size: 32, checkpoint_every: none}}
space: {{lr: 0.01}}
"""


def _run(tmp_path: Path, builder: str) -> TrialState:
    storage = f"sqlite:///{tmp_path}/o.db"
    spec = parse_spec(STUDY.format(storage=storage, builder=builder))
    study = open_study(spec, storage)
    number = ask(study, waiting=False).number
    state = execute_trial(TrialHost(), storage, spec.name, number)
    frozen = study.trials[number]
    assert frozen.state == state
    return frozen


def test_optunas_trial_pruned_from_a_builder_prunes_the_trial(tmp_path: Path) -> None:
    frozen = _run(tmp_path, "optuna_pruned")
    assert frozen.state == TrialState.PRUNED
    assert frozen.user_attrs[PRUNE_REASON] == "this width does not fit"
    assert FAIL_REASON not in frozen.user_attrs


def test_automls_trial_pruned_from_a_builder_prunes_the_trial(tmp_path: Path) -> None:
    frozen = _run(tmp_path, "automl_pruned")
    assert frozen.state == TrialState.PRUNED
    assert frozen.user_attrs[PRUNE_REASON] == "pruned by the builder"


def test_any_other_error_from_a_builder_fails_the_trial_with_one_line(tmp_path: Path) -> None:
    frozen = _run(tmp_path, "broken")
    assert frozen.state == TrialState.FAIL
    assert (
        frozen.user_attrs[FAIL_REASON]
        == "model.family: python:tests.builders:broken raised ValueError: no such layer"
    )


OVERTAKEN = """
name: overtaken
storage: {storage}
objective: {{metric: score, direction: maximize}}
train: python:tests.own_code:fit_overtaken
space: {{lr: 0.01}}
"""


def test_a_trial_failed_elsewhere_while_it_ran_keeps_that_outcome_and_its_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from automl.search.checkpoints import checkpoint_of
    from automl.search.study import UID_ATTR

    storage = f"sqlite:///{tmp_path}/o.db"
    spec = parse_spec(OVERTAKEN.format(storage=storage))
    study = open_study(spec, storage)
    monkeypatch.setenv("OVERTAKEN_STORAGE", storage)
    monkeypatch.setenv("OVERTAKEN_STUDY", spec.name)
    number = ask(study, waiting=False).number
    assert execute_trial(TrialHost(), storage, spec.name, number) == TrialState.FAIL
    frozen = study.trials[number]
    assert frozen.state == TrialState.FAIL and frozen.values is None  # the other outcome stands
    assert "duration_s" not in frozen.user_attrs  # nothing of the late outcome was written
    saved = checkpoint_of(spec, storage, study.user_attrs[UID_ATTR], number)
    assert saved is not None and saved.get() is not None  # its retry resumes from it
