"""The trial of ``benchmarks/bench_fleet.py`` as your own function (``train:
python:fleet_function:fit``): 5 epochs of ``FLEET_EPOCH_SLEEP_S`` (default 0.1 s), one report
each, exactly as the objective of Optuna's pattern there. It imports no torch, as a function
that trains a scikit-learn model or calls a service would not."""

from __future__ import annotations

import os
import time
from typing import Any

EPOCH_SLEEP_S = float(os.environ.get("FLEET_EPOCH_SLEEP_S", "0.1"))


def fit(params: dict[str, Any], trial: Any) -> float:
    lr = float(params["lr"])
    for step in range(1, 6):
        time.sleep(EPOCH_SLEEP_S)
        trial.report(lr * step, step)
    return lr
