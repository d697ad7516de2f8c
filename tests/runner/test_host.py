"""A TrialHost holds what its process reuses between trials; nothing is kept in module globals."""

from __future__ import annotations

from pathlib import Path

from optuna.trial import TrialState

from automl.runner import TrialHost, execute_trial
from automl.search import open_study
from automl.search.study import ask
from automl.studyfile import parse_spec

OWN = """
name: host
storage: {storage}
objective: {{metric: score, direction: maximize}}
train: python:tests.own_code:fit
space: {{lr: 0.01, mode: complete}}
search: {{n_trials: 3}}
"""


def _trial(storage: str) -> tuple[str, int]:
    spec = parse_spec(OWN.format(storage=storage))
    study = open_study(spec, storage)
    return spec.name, ask(study, waiting=False).number


def test_a_host_keeps_the_study_and_the_function_between_trials_and_another_starts_empty(
    tmp_path: Path,
) -> None:
    storage = f"sqlite:///{tmp_path}/h.db"
    host, fresh = TrialHost(), TrialHost()
    name, first = _trial(storage)
    assert execute_trial(host, storage, name, first) == TrialState.COMPLETE
    assert list(host.functions) == ["python:tests.own_code:fit"]
    function, studies = host.functions["python:tests.own_code:fit"], dict(host.studies)
    assert len(studies) == 1

    _, second = _trial(storage)
    assert execute_trial(host, storage, name, second) == TrialState.COMPLETE
    assert host.functions["python:tests.own_code:fit"] is function  # imported once for this host
    assert host.studies.keys() == studies.keys() and all(
        host.studies[k][1] is studies[k][1] for k in studies
    )
    assert fresh.functions == {} and fresh.studies == {} and fresh.by_digest == {}  # nothing shared
