"""The model of ``benchmarks/bench_fleet.py``: a tiny linear layer whose epoch sleeps a fixed time.

automl's trainer runs a user builder's fold models one after another (the loop path) and, after
each epoch's training, makes one validation forward pass per fold (``eval()`` mode; one chunk
for any validation fold under 8,192 rows). Each such pass sleeps ``EPOCH_SLEEP_S / FOLDS``, so
that one epoch of a trial sleeps ``EPOCH_SLEEP_S`` in all, whatever the CPU. Training passes do
not sleep. Study files name it ``python:fleet_model:build`` with ``benchmarks/`` on
``PYTHONPATH``; ``FLEET_EPOCH_SLEEP_S`` and ``FLEET_FOLDS`` override the two constants.

``FLEET_COUNT_CALLS=1`` prints one line per forward pass (mode, fold, rows) to stderr, to
check the count above against the trainer of the day.
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any

import torch
from torch import nn

EPOCH_SLEEP_S = float(os.environ.get("FLEET_EPOCH_SLEEP_S", "0.1"))
FOLDS = int(os.environ.get("FLEET_FOLDS", "2"))
COUNT_CALLS = os.environ.get("FLEET_COUNT_CALLS") == "1"


class SleepyLinear(nn.Module):
    """``Flatten`` + ``Linear``; each validation forward pass sleeps ``EPOCH_SLEEP_S / FOLDS``."""

    def __init__(self, n_in: int, n_out: int, tag: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(n_in, n_out))
        self.tag = tag

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if COUNT_CALLS:
            print(
                f"fleet_model forward {'train' if self.training else 'eval'} "
                f"model={self.tag} rows={len(x)}",
                file=sys.stderr,
            )
        if not self.training:
            time.sleep(EPOCH_SLEEP_S / FOLDS)
        return self.net(x)  # type: ignore[no-any-return]


_built = 0


def build(params: dict[str, Any], input_shape: tuple[int, ...], n_outputs: int) -> nn.Module:
    """automl's user-builder signature: every sampled parameter, the input shape, the outputs."""
    global _built
    _built += 1
    del params  # the sampled value changes nothing here: every trial costs the same
    return SleepyLinear(math.prod(input_shape), n_outputs, _built)
