"""A worker splits and preprocesses a study's folds once, and its trials score as if it did not."""

from __future__ import annotations

import torch

from automl.studyfile import parse_spec
from automl.training import DataCache, NullReporter, cross_validate
from automl.training.device import seed_everything

SPEC = """
name: iris
objective: {metric: accuracy}
data: {source: "sklearn:iris", cv: {folds: 3}, preprocess: %s}
trainer: {epochs: 2, device: cpu}
"""


def test_folds_are_built_once_per_data_and_reused_without_changing_a_score() -> None:
    spec = parse_spec(SPEC % "standardize")
    cache = DataCache()
    built: list[object] = []

    def build(dataset: object) -> list[object]:
        built.append(dataset)
        return [object()]

    device = torch.device("cpu")
    first = cache.folds(spec.dataset, None, device, build)
    assert cache.folds(spec.dataset, None, device, build) is first and len(built) == 1
    other = parse_spec(SPEC % "none")  # other preprocessing: other folds
    assert cache.folds(other.dataset, None, device, build) is not first and len(built) == 2

    cached = [cross_validate(spec, {"lr": 0.01}, NullReporter(), cache=DataCache()).fold_scores]
    shared = DataCache()
    twice = [
        cross_validate(spec, {"lr": 0.01}, NullReporter(), cache=shared).fold_scores
        for _ in range(2)
    ]
    plain = cross_validate(spec, {"lr": 0.01}, NullReporter()).fold_scores
    assert cached[0] == twice[0] == twice[1] == plain


def test_seeding_a_cpu_trial_seeds_the_cpu_generator() -> None:
    seed_everything(7, torch.device("cpu"))
    a = torch.rand(3)
    seed_everything(7, torch.device("cpu"))
    assert torch.equal(a, torch.rand(3))
