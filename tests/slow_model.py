"""A model whose every forward pass sleeps: trials that take as long on a fast machine as on
a slow one, so that fault tests can strike while a trial trains (``SLOW_MODEL_SLEEP_S``)."""

from __future__ import annotations

import math
import os
import time

import torch
from torch import nn


class SlowLinear(nn.Module):
    def __init__(self, n_inputs: int, n_outputs: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_inputs, n_outputs)
        self.sleep_s = float(os.environ.get("SLOW_MODEL_SLEEP_S", "0.01"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.sleep_s)
        return self.linear(x.flatten(1))


def build(params: dict[str, object], input_shape: tuple[int, ...], n_outputs: int) -> nn.Module:
    return SlowLinear(math.prod(input_shape), n_outputs)
