"""A resumed study draws new points: its seeded sampler is seeded anew by the trials it has."""

from __future__ import annotations

from pathlib import Path

import optuna

from automl.search import open_study
from automl.studyfile import parse_spec


def _points(url: str, sampler: str, n: int) -> list[float]:
    spec = parse_spec(f"""
name: s
storage: {url}
objective: {{metric: accuracy}}
data: {{source: "sklearn:iris"}}
space: {{lr: {{low: 0.001, high: 1.0, log: true}}}}
search: {{sampler: {{type: {sampler}, seed: 7}}}}
""")
    study = open_study(spec, url)  # a new run of `automl run`: the sampler is built again
    points = []
    for _ in range(n):
        trial = study.ask()
        points.append(trial.suggest_float("lr", 0.001, 1.0, log=True))
        study.tell(trial, 0.5)
    return points


def test_a_resumed_study_does_not_replay_the_first_runs_points(tmp_path: Path) -> None:
    for sampler in ("random", "tpe"):
        url = f"sqlite:///{tmp_path / f'{sampler}.db'}"
        first, second = _points(url, sampler, 3), _points(url, sampler, 3)
        assert not set(first) & set(second), (sampler, first, second)


def test_the_same_resume_is_reproducible(tmp_path: Path) -> None:
    runs = []
    for copy in ("a", "b"):
        url = f"sqlite:///{tmp_path / f'{copy}.db'}"
        runs.append(_points(url, "random", 2) + _points(url, "random", 2))
    assert runs[0] == runs[1]
    assert (
        len(optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'a.db'}").trials) == 4
    )
