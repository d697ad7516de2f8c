"""The trial of ``benchmarks/bench_fleet_sim.py``: ``SIM_EPOCHS`` epochs (default 5) that each
sleep ``SIM_EPOCH_S`` seconds (default 1.0) and report one value, so that every trial costs the
same wall time on any CPU and writes as many intermediate values as a real one.

- :func:`fit` is automl's own-code function (``train: python:sim_model:fit``, with
  ``benchmarks/`` on ``PYTHONPATH``): ``trial.report`` per epoch, which also asks the pruner.
- :func:`objective` is the same work as an Optuna objective (Optuna's own pattern): one
  ``suggest_float``, then per epoch ``trial.report`` and ``trial.should_prune``.

Both record every call in :data:`CALLS` as ``[slot, trial number, start, end]`` (wall-clock
seconds; ``end`` stays None when the function raised), so that the benchmark can check that
no trial trained twice and measure how long each slot stood idle between trials. The virtual
worker that calls them names its slot in :data:`SLOT` (a thread-local) first.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

EPOCHS = int(os.environ.get("SIM_EPOCHS", "5"))
EPOCH_S = float(os.environ.get("SIM_EPOCH_S", "1.0"))

CALLS: list[list[Any]] = []  # list.append is atomic: threads share it without a lock
SLOT = threading.local()


def _begin(number: int) -> list[Any]:
    call = [getattr(SLOT, "name", "?"), number, time.time(), None]
    CALLS.append(call)
    return call


def fit(params: dict[str, Any], trial: Any) -> float:
    """automl's ``fit(params, trial: automl.TrialContext)``: the value grows with ``lr``."""
    call = _begin(trial.number)
    value = 0.0
    for epoch in range(1, EPOCHS + 1):
        time.sleep(EPOCH_S)
        value += float(params["lr"]) * epoch
        trial.report(value, epoch)
    call[3] = time.time()
    return value


def objective(trial: Any) -> float:
    """The same trial for ``optuna.Study.optimize``."""
    import optuna

    lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
    call = _begin(trial.number)
    value = 0.0
    for epoch in range(1, EPOCHS + 1):
        time.sleep(EPOCH_S)
        value += lr * epoch
        trial.report(value, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    call[3] = time.time()
    return value
