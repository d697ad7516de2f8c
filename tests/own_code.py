"""Your own training code for the tests: a function and (run as a script) a program that do
what their ``mode`` param says. Each step's value is the running sum of ``lr * step`` kept in
the checkpoint, so a resumed trial ends with the uninterrupted value only if its state was
really restored.

modes: complete (5 steps), fail (raises), oom (CUDA out of memory), prune (reports 100 and
then would run for a minute), slow (10 steps of 0.3 s each; for kill -9 tests).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import automl

STEPS = {"complete": 5, "slow": 10}
SLOW_S = 0.3


def fit(params: dict, trial: automl.TrialContext) -> float:
    mode = params["mode"]
    if mode == "fail":
        raise ValueError("the data loader broke (password=hunter2 in the message)")
    if mode == "oom":
        import torch

        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
    if mode == "prune":
        trial.report(100.0, 1)  # over the threshold pruner's bound: pruned here
        time.sleep(60)
        return 0.0
    state = trial.load_checkpoint() or {"step": 0, "total": 0.0}
    total = state["total"]
    for step in range(state["step"] + 1, STEPS[mode] + 1):
        if mode == "slow":
            time.sleep(SLOW_S)
        total += params["lr"] * step
        trial.report(total, step)
        trial.log(double=2 * total)
        trial.save_checkpoint({"step": step, "total": total})
    return total


def main() -> int:
    """The same, as a program: params as --name value, JSON lines on stdout."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode")
    parser.add_argument("--lr", type=float)
    args = parser.parse_args()
    assert json.loads(os.environ["AUTOML_PARAMS"])["mode"] == args.mode
    print(f"trial {os.environ['AUTOML_TRIAL_NUMBER']} starts", flush=True)  # passed to the log
    if args.mode == "fail":
        print(
            "Traceback (most recent call last):\nValueError: the data loader broke", file=sys.stderr
        )
        return 3
    if args.mode == "oom":
        print("RuntimeError: CUDA out of memory. Tried to allocate 20.00 GiB", file=sys.stderr)
        return 1
    if args.mode == "prune":
        print(json.dumps({"step": 1, "value": 100.0}), flush=True)
        time.sleep(60)
        return 0
    saved = Path(os.environ["AUTOML_CHECKPOINT_DIR"]) / "state.json"
    state = json.loads(saved.read_text()) if saved.exists() else {"step": 0, "total": 0.0}
    total = state["total"]
    for step in range(state["step"] + 1, STEPS[args.mode] + 1):
        if args.mode == "slow":
            time.sleep(SLOW_S)
        total += args.lr * step
        saved.write_text(json.dumps({"step": step, "total": total}))
        print(json.dumps({"step": step, "value": total}), flush=True)
    print(json.dumps({"value": total}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def fit_overtaken(params: dict, trial: automl.TrialContext) -> float:
    """Saves a checkpoint, and meanwhile the coordinator fails the trial (as when it took the
    worker for lost): the storage named by ``OVERTAKEN_STORAGE`` and ``OVERTAKEN_STUDY``."""
    from optuna.trial import TrialState

    from automl.search import make_storage

    trial.save_checkpoint({"step": 1, "total": params["lr"]})
    storage = make_storage(os.environ["OVERTAKEN_STORAGE"], cached=False)
    study_id = storage.get_study_id_from_name(os.environ["OVERTAKEN_STUDY"])
    storage.set_trial_state_values(
        storage.get_trial_id_from_study_id_trial_number(study_id, trial.number), TrialState.FAIL
    )
    return params["lr"]
