"""Optimisers, schedules and warm-up, regularisers: each one trains (briefly) and does its job."""

from __future__ import annotations

import math

import pytest
import torch

from automl.training import DataCache, NullReporter, TrainParams, cross_validate
from automl.training.optim import l1_penalty, lr_multiplier, make_optimizer, split_decay
from tests.training.helpers import make_spec


@pytest.mark.parametrize(
    "params",
    [
        {"optimizer": "sgd", "lr": 0.05},
        {"optimizer": "sgd", "lr": 0.05, "momentum": 0.95, "nesterov": True},
        {"optimizer": "adam", "lr": 0.01, "beta1": 0.8, "beta2": 0.99},
        {"optimizer": "adamw", "lr": 0.01, "weight_decay": 1e-2},
        {"optimizer": "rmsprop", "lr": 0.003},
    ],
    ids=["sgd", "sgd-nesterov", "adam", "adamw", "rmsprop"],
)
def test_each_optimiser_learns_iris(params: dict[str, object], cache: DataCache) -> None:
    result = cross_validate(make_spec(epochs=6), params, NullReporter(), cache=cache)
    assert result.value > 0.7  # chance is 1/3


@pytest.mark.parametrize("schedule", ["constant", "step", "exponential", "cosine", "onecycle"])
def test_each_schedule_trains(schedule: str, cache: DataCache) -> None:
    params = {"schedule": schedule, "warmup_epochs": 1, "lr": 0.01}
    result = cross_validate(make_spec(epochs=4), params, NullReporter(), cache=cache)
    assert result.epochs_run == 4 and math.isfinite(result.value)


def test_schedule_shapes() -> None:
    steps, epochs = 10, 10
    total = steps * epochs

    def curve(schedule: str, warmup: int = 0) -> list[float]:
        f = lr_multiplier(TrainParams(schedule=schedule, warmup_epochs=warmup), epochs, steps)
        return [f(s) for s in range(total)]

    assert set(curve("constant")) == {1.0}
    step = curve("step")
    assert step[0] == 1.0 and step[60] == pytest.approx(0.1) and step[-1] == pytest.approx(0.01)
    exp = curve("exponential")
    assert exp[0] == 1.0 and exp[-1] == pytest.approx(0.01, rel=0.1)
    assert all(a >= b for a, b in zip(exp, exp[1:], strict=False))
    cos = curve("cosine")
    assert cos[0] == 1.0 and cos[50] == pytest.approx(0.5) and cos[-1] < 0.01
    one = curve("onecycle")
    assert (
        one[0] == pytest.approx(0.04)
        and max(one) == pytest.approx(1.0, abs=1e-3)
        and one[-1] < 0.01
    )
    assert one.index(max(one)) == pytest.approx(30, abs=1)
    warm = curve("constant", warmup=2)
    assert (
        warm[0] == pytest.approx(1 / 21) and warm[19] == pytest.approx(20 / 21) and warm[20] == 1.0
    )


def test_weight_decay_and_l1_skip_biases() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    decay, no_decay = split_decay(list(net.named_parameters()))
    assert [t.shape for t in decay] == [(4, 3), (2, 4)]
    assert len(no_decay) == 4  # two biases, BN weight and bias
    opt = make_optimizer(decay, no_decay, TrainParams(weight_decay=0.1))
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]
    assert l1_penalty(decay, 0.0) is None
    penalty = l1_penalty(decay, 0.5)
    assert penalty is not None
    assert float(penalty.detach()) == pytest.approx(
        0.5 * sum(float(t.detach().abs().sum()) for t in decay)
    )


def test_l1_shrinks_weights(cache: DataCache) -> None:
    plain = cross_validate(make_spec(epochs=3), {"lr": 0.01}, NullReporter(), cache=cache)
    sparse = cross_validate(
        make_spec(epochs=3), {"lr": 0.01, "l1": 0.05}, NullReporter(), cache=cache
    )
    first = [plain.health["weight_norm"][-1][0], sparse.health["weight_norm"][-1][0]]
    assert first[1] < first[0]


def test_grad_clip_bounds_each_step(cache: DataCache) -> None:
    # Plain SGD: the step is lr times the gradient, so clipping shows in the update size
    # (Adam would normalise it away).
    sgd = {"optimizer": "sgd", "momentum": 0.0, "lr": 0.1}
    free = cross_validate(make_spec(epochs=2), sgd, NullReporter(), cache=cache)
    clipped = cross_validate(
        make_spec(epochs=2), {**sgd, "grad_clip": 0.01}, NullReporter(), cache=cache
    )
    assert clipped.health["update_ratio"][0][0] < free.health["update_ratio"][0][0] / 3


def test_label_smoothing_raises_the_training_loss_floor(cache: DataCache) -> None:
    sharp = cross_validate(make_spec(epochs=5), {"lr": 0.03}, NullReporter(), cache=cache)
    smooth = cross_validate(
        make_spec(epochs=5), {"lr": 0.03, "label_smoothing": 0.3}, NullReporter(), cache=cache
    )
    assert smooth.train_loss[-1] > sharp.train_loss[-1]
