"""Every choice the study file accepts for a categorical parameter is one the engine builds."""

from __future__ import annotations

import pytest
import torch

from automl.studyfile.schema import ModelSpec
from automl.studyfile.trainer_params import TRAINER_CHOICES, TrainParams
from automl.training.models import build_model
from automl.training.optim import lr_multiplier, make_optimizer, split_decay


@pytest.mark.parametrize("optimizer", TRAINER_CHOICES["optimizer"])
def test_every_optimizer_steps(optimizer: str) -> None:
    model = torch.nn.Linear(3, 2)
    p = TrainParams(optimizer=optimizer, weight_decay=0.01)
    opt = make_optimizer(*split_decay(list(model.named_parameters())), p)
    before = model.weight.detach().clone()
    model(torch.ones(4, 3)).sum().backward()
    opt.step()
    assert not torch.equal(before, model.weight), f"{optimizer} did not move the weights"


@pytest.mark.parametrize("schedule", TRAINER_CHOICES["schedule"])
def test_every_schedule_starts_at_the_peak_rate_or_below(schedule: str) -> None:
    factor = lr_multiplier(TrainParams(schedule=schedule), epochs=10, steps_per_epoch=2)
    values = [factor(step) for step in range(20)]
    assert all(0 < v <= 1 for v in values), schedule


@pytest.mark.parametrize("family", ["mlp", "cnn"])
@pytest.mark.parametrize("activation", TRAINER_CHOICES["activation"])
@pytest.mark.parametrize("init", TRAINER_CHOICES["init"])
def test_every_activation_and_init_builds(family: str, activation: str, init: str) -> None:
    p = TrainParams(activation=activation, init=init, depth=1, width=8, channels=4)
    model = build_model(ModelSpec(family=family), p, {}, (1, 8, 8), 3)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 3)
