"""Runtime faults inside trials: each gets a clear reason on the trial and the study goes on."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from optuna.trial import TrialState

from automl.backends import InlineBackend
from automl.coordinator import Coordinator
from automl.search import COUNTED_STATES, open_study
from automl.studyfile import parse_spec
from tests.conftest import tiny_yaml

BUILDER = """
import itertools
import torch
from torch import nn

_calls = itertools.count()

def build(params, input_shape, n_outputs):
    # The first model built fails the way a GPU out of memory does; the rest are fine.
    if next(_calls) == 0:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
    return nn.Sequential(nn.Flatten(), nn.Linear(int(torch.tensor(input_shape).prod()), n_outputs))
"""


def test_out_of_memory_fails_the_trial_without_retry_and_the_study_goes_on(
    journal_url: str, study_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "oom_builder.py").write_text(textwrap.dedent(BUILDER))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("oom_builder", None)
    text = (
        tiny_yaml(study_name, journal_url, n_trials=3)
        .replace("trainer:", "model: {family: 'python:oom_builder:build'}\ntrainer:")
        .replace("  width: {low: 8, high: 64, log: true}\n", "")
    )
    spec = parse_spec(text)
    study = open_study(spec, journal_url)
    Coordinator(spec, study, InlineBackend(journal_url)).run()
    trials = study.get_trials()
    assert trials[0].state == TrialState.FAIL
    assert trials[0].user_attrs["fail_reason"] == "out of memory"
    # same settings, same OOM: no retry
    assert not [t for t in trials if t.user_attrs.get("retry_of") == 0]
    assert len([t for t in trials if t.state in COUNTED_STATES]) == 3
