"""What a model costs, exact and the same on every machine: ``params`` and ``flops``.

* ``params``: trainable parameters (what a fold model holds; the size of its weights).
* ``flops``: multiply-adds of one forward pass per row, counted by PyTorch's own
  ``torch.utils.flop_counter`` (matrix products and convolutions; FLOPs / 2) in eval mode.

Both come from the model built on the ``meta`` device, which allocates nothing, so they are
known before the first epoch and cost a few milliseconds per trial.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from automl.studyfile import ModelSpec
from automl.studyfile.trainer_params import TrainParams
from automl.studyfile.vocabulary import CostMetric


def count_params(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-adds of one forward pass of one row, in eval mode."""
    device = next(iter(model.parameters()), torch.empty(0)).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros((1, *input_shape), device=device))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops()) // 2


def model_costs(
    which: Iterable[CostMetric], model: ModelSpec, p: TrainParams, params: Mapping[str, Any],
    input_shape: tuple[int, ...], n_outputs: int,
) -> dict[str, float]:  # fmt: skip
    """The costs named in ``which`` of the model these params build, by name."""
    from automl.training.models import build_model

    wanted = list(which)
    if not wanted:
        return {}
    with torch.device("meta"):
        net = build_model(model, p, params, input_shape, n_outputs)
    out: dict[str, float] = {}
    for cost in wanted:
        if cost == CostMetric.PARAMS:
            out[cost.value] = float(count_params(net))
        else:
            out[cost.value] = float(count_flops(net, input_shape))
    return out
