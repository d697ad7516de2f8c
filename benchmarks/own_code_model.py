"""The training code of ``benchmarks/bench_own_code.py``: 5 steps of 20 ms of "training" each,
as a function (``fit``) and as a program (run this file). Neither imports torch, so what is
measured is automl's cost per trial, not an import."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

STEPS = 5
STEP_S = 0.02


def fit(params: dict[str, Any], trial: Any) -> float:
    value = 0.0
    for step in range(1, STEPS + 1):
        time.sleep(STEP_S)
        value += float(params["lr"])
        trial.report(value, step)
    return value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args()
    value = 0.0
    for step in range(1, STEPS + 1):
        time.sleep(STEP_S)
        value += args.lr
        print(json.dumps({"step": step, "value": value}), flush=True)
    print(json.dumps({"value": value}), flush=True)


if __name__ == "__main__":
    main()
