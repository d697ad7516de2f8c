"""The memory estimate of the largest model of a space, made before anything trains."""

from __future__ import annotations

import pytest

from automl.errors import SpecError
from automl.studyfile import parse_spec
from automl.training.memory import check_memory, largest_params, trial_bytes


def spec_of(space: str, folds: int = 5) -> object:
    return parse_spec(f"""
name: m
objective: {{metric: accuracy}}
data: {{source: sklearn:digits, cv: {{folds: {folds}}}}}
trainer: {{device: cpu, batch_size: 128}}
space: {space}
""")


def test_the_largest_model_takes_every_upper_bound() -> None:
    spec = spec_of("{width: {low: 8, high: 512}, depth: {choices: [1, 3, 2]}, batch_size: 64}")
    assert largest_params(spec) == {"width": 512, "depth": 3, "batch_size": 64}  # type: ignore[arg-type]


def test_the_estimate_counts_weights_optimiser_state_and_activations_per_fold() -> None:
    spec = spec_of("{width: 100, depth: 1, batch_size: 10}", folds=2)
    weights = 64 * 100 + 100 + 100 * 10 + 10  # one hidden layer of 100 on 64 inputs, 10 classes
    need = trial_bytes(spec, (64,), 10)  # type: ignore[arg-type]
    assert need is not None and need >= 2 * weights * 4 * 4
    # activations: a few outputs of width per row
    assert need < 2 * (weights * 16 + 10 * 100 * 8 * 8)


def test_a_space_whose_largest_model_cannot_fit_is_refused_naming_the_space() -> None:
    spec = spec_of("{width: {low: 64, high: 200000}, depth: {low: 1, high: 8}}")
    with pytest.raises(SpecError) as info:
        check_memory(spec, (64,), 10)  # type: ignore[arg-type]
    assert info.value.one_line().startswith(
        "space: the largest model of the space (width 200000, depth 8)"
    )
    check_memory(spec_of("{width: {low: 64, high: 1024}}"), (64,), 10)  # type: ignore[arg-type]
