"""Structured pruning of the built-in families: the tensors shrink, the rebuilt model matches."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from automl.studyfile import ModelSpec
from automl.studyfile.trainer_params import TrainParams
from automl.training.compress import (
    fine_tune_epochs,
    importance,
    prunable_layers,
    prune,
    resize,
    widths,
)
from automl.training.models import build_model


def _net(family: str, **knobs: object) -> tuple[nn.Module, tuple[int, ...]]:
    shape = (64,) if family == "mlp" else (1, 8, 8)
    torch.manual_seed(0)
    return build_model(ModelSpec(family=family), TrainParams(**knobs), {}, shape, 10).eval(), shape  # type: ignore[arg-type]


def _params(net: nn.Module) -> int:
    return sum(t.numel() for t in net.parameters())


@pytest.mark.parametrize(
    ("family", "knobs", "before", "after"),
    [
        ("mlp", {"width": 32, "depth": 3, "batch_norm": True}, [32, 32, 32], [16, 16, 16]),
        ("mlp", {"width": 10, "depth": 1}, [10], [5]),
        (
            "cnn",
            {"width": 16, "depth": 2, "channels": 8, "batch_norm": True},
            [8, 16, 16],
            [4, 8, 8],
        ),
    ],
)
def test_pruning_removes_units_and_a_model_built_with_the_widths_computes_the_same(
    family: str, knobs: dict[str, object], before: list[int], after: list[int]
) -> None:
    net, shape = _net(family, **knobs)
    n = _params(net)
    assert widths(net) == before
    assert prune(net, 0.5) == after == widths(net)
    assert _params(net) < 0.55 * n  # weights between two pruned layers drop to a quarter
    fresh, _ = _net(family, **knobs)
    resize(fresh, after)
    fresh.load_state_dict(net.state_dict())  # every tensor has the pruned shape
    x = torch.randn(5, *shape)
    assert torch.allclose(fresh.eval()(x), net(x))


def test_the_units_with_the_smallest_weight_norms_leave() -> None:
    net: Any = _net("mlp", width=4, depth=1)[0]
    with torch.no_grad():
        # units 1 and 3 are weak
        net.layers[0].linear.weight.mul_(torch.tensor([[1.0], [0.01], [3.0], [0.02]]))
    kept_rows = net.layers[0].linear.weight[[0, 2]].clone()
    kept_cols = net.out.weight[:, [0, 2]].clone()
    assert importance(prunable_layers(net)[0]).argsort()[:2].sort().values.tolist() == [1, 3]
    prune(net, 0.5)
    assert torch.equal(net.layers[0].linear.weight, kept_rows) and torch.equal(
        net.out.weight, kept_cols
    )


def test_a_layer_keeps_at_least_one_unit_and_bad_fractions_or_widths_are_refused() -> None:
    net, _ = _net("mlp", width=2, depth=1)
    assert prune(net, 0.9) == [1]
    with pytest.raises(ValueError):
        prune(net, 1.0)
    with pytest.raises(ValueError, match="do not fit"):
        resize(_net("mlp", width=2, depth=1)[0], [3])
    with pytest.raises(TypeError):
        prunable_layers(nn.Linear(2, 2))


def test_fine_tuning_takes_a_fifth_of_the_epochs_and_at_least_two() -> None:
    assert [fine_tune_epochs(e) for e in (1, 10, 12, 30)] == [2, 2, 2, 6]
