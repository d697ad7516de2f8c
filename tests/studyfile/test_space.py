"""Space construction: define-by-run suggestions on a real Optuna trial, conditionals included."""

from __future__ import annotations

import optuna
import pytest

from automl.studyfile import complete_params, parse_spec, suggest_params

SPEC = """
name: s
objective: {metric: accuracy}
data: {source: sklearn:digits}
space:
  lr: {low: 1.0e-4, high: 0.1, log: true}
  depth: {low: 1, high: 3}
  dropout: {low: 0.0, high: 0.5, step: 0.1}
  optimizer: {choices: [adamw, sgd]}
  momentum: {low: 0.5, high: 0.9, when: {optimizer: sgd}}
  nesterov: {choices: [true, false], when: {optimizer: [sgd]}}
  activation: gelu
"""


@pytest.fixture
def space():  # type: ignore[no-untyped-def]
    return parse_spec(SPEC).space


def test_suggestions_respect_types_ranges_and_conditions(space) -> None:  # type: ignore[no-untyped-def]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(40):
        trial = study.ask()
        values = suggest_params(space, trial)
        assert 1e-4 <= values["lr"] <= 0.1
        assert isinstance(values["depth"], int) and 1 <= values["depth"] <= 3
        assert round(values["dropout"] * 10, 6) == int(round(values["dropout"] * 10))
        assert values["activation"] == "gelu"
        assert "activation" not in trial.params  # fixed values are not Optuna params
        if values["optimizer"] == "sgd":
            assert 0.5 <= values["momentum"] <= 0.9 and "nesterov" in values
        else:
            assert "momentum" not in values and "momentum" not in trial.params
        seen.add(values["optimizer"])
        study.tell(trial, values["lr"])
    assert seen == {"adamw", "sgd"}


def test_complete_params_adds_fixed_values_and_drops_inactive(space) -> None:  # type: ignore[no-untyped-def]
    sampled = {"lr": 0.01, "depth": 2, "dropout": 0.1, "optimizer": "adamw", "momentum": 0.7}
    full = complete_params(space, sampled)
    assert full["activation"] == "gelu"
    assert "momentum" not in full
    assert (
        complete_params(space, {**sampled, "optimizer": "sgd", "nesterov": True})["momentum"] == 0.7
    )


def test_bool_condition_does_not_match_int() -> None:
    spec = parse_spec(
        SPEC.replace(
            "activation: gelu",
            "batch_norm: {choices: [true, false]}\n  warmup_epochs: {low: 1, high: 3, "
            "when: {batch_norm: true}}",
        )
    )
    full = complete_params(
        spec.space,
        {
            "lr": 0.1,
            "depth": 1,
            "dropout": 0.0,
            "optimizer": "adamw",
            "batch_norm": False,
            "warmup_epochs": 2,
        },
    )
    assert "warmup_epochs" not in full
