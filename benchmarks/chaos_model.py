"""The model of ``benchmarks/chaos.py``: a small MLP whose training takes a fixed wall time.

Each training forward pass sleeps :data:`SLEEP_S`, so that an epoch takes about the same time
on any CPU, however busy the machine; study files name it ``python:chaos_model:build`` with
``benchmarks/`` on ``PYTHONPATH``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
from torch import nn

SLEEP_S = 0.05


class SlowMLP(nn.Module):
    """One hidden layer of ``width`` units; sleeps in every training forward pass."""

    def __init__(self, n_in: int, width: int, n_out: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(n_in, width), nn.ReLU(), nn.Linear(width, n_out)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            time.sleep(SLEEP_S)
        return self.net(x)  # type: ignore[no-any-return]


def build(params: dict[str, Any], input_shape: tuple[int, ...], n_outputs: int) -> nn.Module:
    """automl's user-builder signature: every sampled parameter, the input shape, the outputs."""
    return SlowMLP(math.prod(input_shape), int(params.get("width", 32)), n_outputs)
