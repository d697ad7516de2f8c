"""Your own code with two objectives, for the tests: ``score`` (maximised) and ``cost``
(minimised). A function that returns a dict and reports dicts, and (run as a script) a program
that prints ``{"step": n, "values": {...}}`` lines and a final ``{"values": {...}}``.

``score`` at step n is the running sum of ``quality * n`` (kept in the checkpoint, so a resumed
trial ends with the uninterrupted value only if its state was really restored); ``cost`` is the
``cost`` param. ``sleep`` seconds pass per step, so that a kill can land mid-trial.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import automl

STEPS = 8


def fit(params: dict, trial: automl.TrialContext) -> dict[str, float]:
    state = trial.load_checkpoint() or {"step": 0, "score": 0.0}
    score = state["score"]
    for step in range(state["step"] + 1, STEPS + 1):
        time.sleep(params["sleep"])
        score += params["quality"] * step
        trial.report({"score": score, "cost": float(params["cost"])}, step)
        trial.save_checkpoint({"step": step, "score": score})
    return {"score": score, "cost": float(params["cost"])}


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("quality", "cost", "sleep"):
        parser.add_argument(f"--{name}", type=float)
    args = parser.parse_args()
    folder = Path(os.environ["AUTOML_CHECKPOINT_DIR"])
    saved = folder / "state.json"
    state = json.loads(saved.read_text()) if saved.exists() else {"step": 0, "score": 0.0}
    score = state["score"]
    for step in range(state["step"] + 1, STEPS + 1):
        time.sleep(args.sleep)
        score += args.quality * step
        # step N's state, then its line
        saved.write_text(json.dumps({"step": step, "score": score}))
        print(json.dumps({"step": step, "values": {"score": score, "cost": args.cost}}), flush=True)
    print(json.dumps({"values": {"score": score, "cost": args.cost}}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
