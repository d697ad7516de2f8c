"""A small finished study for the tests that only read it: the report's and the dashboard's."""

from __future__ import annotations

import optuna

from automl.backends import InlineBackend
from automl.coordinator import Coordinator
from automl.search import open_study
from automl.studyfile import StudySpec, parse_spec
from tests.conftest import tiny_yaml


def finished_study(folder: str) -> tuple[StudySpec, optuna.Study]:
    """Six trials of the tiny study, run to the end in SQLite under ``folder``."""
    url = f"sqlite:///{folder}/study.db"
    spec = parse_spec(tiny_yaml("finished", url, n_trials=6, epochs=4, sampler="random"))
    study = open_study(spec, url)
    Coordinator(spec, study, InlineBackend(url)).run()
    return spec, study
