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
LOG_NOISE = 20  # with --log-lines: other lines per step, which the pattern must pass over


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
    parser.add_argument(
        "--log-lines", action="store_true", help="its own log lines instead of JSON lines"
    )
    args = parser.parse_args()
    value = 0.0
    for step in range(1, STEPS + 1):
        time.sleep(STEP_S)
        value += args.lr
        # lines that match nothing, as real logs have
        for i in range(LOG_NOISE if args.log_lines else 0):
            print(f"step {step} batch {i}: lr {args.lr:.4f}, grad norm 1.23", flush=True)
        if args.log_lines:
            print(f"step {step}: train loss {1 / (1 + value):.6f}, total {value:.6f}", flush=True)
        else:
            print(json.dumps({"step": step, "value": value}), flush=True)
    if not args.log_lines:
        print(json.dumps({"value": value}), flush=True)


if __name__ == "__main__":
    main()
