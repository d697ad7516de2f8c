"""The cost per trial of your own training code run by automl, against calling it directly.

    python benchmarks/bench_own_code.py --trials 40 --repeats 3

The code (:mod:`own_code_model`) does 5 steps of 20 ms and reports after each: 0.1 s of work.

- **direct, function**: ``fit(params, trial)`` called in a loop with a trial object that only
  records the reports (no automl): the work itself.
- **direct, program**: ``python benchmarks/own_code_model.py --lr X`` run with
  ``subprocess.run`` in a loop: the work plus starting a Python process.
- **automl, function** / **automl, program**: ``automl run`` of a study with ``train:`` the same
  function or program, ``--trials`` trials, one at a time (``parallelism: 1``) on the local
  backend and a journal file, random sampler, no pruner; timed from the first trial's start
  to the last trial's end as the storage records them, divided by the trials. So it includes
  what automl does per trial (ask, dispatch, the worker's reads and writes, the reports to the
  storage, tell, collect), and leaves out ``automl run``'s start-up.

- **direct, program (log lines)** / **automl, program (log lines)**: the same program run with
  ``--log-lines``: instead of JSON lines it prints its own lines (``step 3: train loss 0.41,
  total 0.06``, and 20 other lines per step that match nothing), and the study reads the value
  with ``metric: {pattern: 'step (?P<step>\\d+): .*total (?P<value>[\\d.]+)'}`` (issue 23): the
  cost per trial of reading log lines, beside the JSON-lines figure.

Overhead per trial = automl - direct of the same form. Medians over ``--repeats``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import own_code_model  # noqa: E402

STUDY = """
name: {name}
storage: {storage}
objective: {{metric: total, direction: maximize}}
train: {train}
space:
  lr: {{low: 0.01, high: 0.1}}
search: {{sampler: {{type: random, seed: 0}}, pruner: {{type: none}}, n_trials: {trials}}}
execution: {{parallelism: 1}}
"""


class Recorder:
    def __init__(self) -> None:
        self.values: dict[int, float] = {}

    def report(self, value: float, step: int) -> None:
        self.values[step] = value


def direct_function(trials: int) -> float:
    started = time.perf_counter()
    for i in range(trials):
        own_code_model.fit({"lr": 0.01 + i * 0.001}, Recorder())
    return (time.perf_counter() - started) / trials


def direct_program(trials: int, log_lines: bool = False) -> float:
    started = time.perf_counter()
    extra = ["--log-lines"] if log_lines else []
    for i in range(trials):
        subprocess.run(
            [
                sys.executable,
                str(HERE / "own_code_model.py"),
                "--lr",
                str(0.01 + i * 0.001),
                *extra,
            ],
            check=True,
            capture_output=True,
        )
    return (time.perf_counter() - started) / trials


LOG_LINES_TRAIN = (
    "{{command: ['{python}', '{program}', --log-lines], "
    "metric: {{pattern: 'step (?P<step>\\d+): .*total (?P<value>[\\d.]+)'}}}}"
)


def through_automl(form: str, trials: int, folder: Path) -> float:
    import optuna

    storage = str(folder / f"{_slug(form)}.journal")
    if form == "function":
        train = "python:own_code_model:fit"
    elif form == "program":
        train = f"{{command: ['{sys.executable}', '{HERE / 'own_code_model.py'}']}}"
    else:  # the program's own log lines, read with a pattern
        train = LOG_LINES_TRAIN.format(python=sys.executable, program=HERE / "own_code_model.py")
    study_file = folder / f"{_slug(form)}.yaml"
    study_file.write_text(
        STUDY.format(name=_slug(form), storage=storage, train=train, trials=trials)
    )
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    )
    subprocess.run([sys.executable, "-m", "automl", "run", str(study_file)], check=True, cwd=HERE,
                   env=env, capture_output=True)  # fmt: skip
    study = optuna.load_study(study_name=_slug(form), storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(storage)))  # fmt: skip
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) == trials, [t.state.name for t in study.trials]
    first = min(t.datetime_start for t in done if t.datetime_start)
    last = max(t.datetime_complete for t in done if t.datetime_complete)
    return (last - first).total_seconds() / trials


def _slug(form: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in form).split())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="/tmp/bench_own_code.json")
    args = ap.parse_args()
    forms = ("function", "program", "program (log lines)")
    runs: dict[str, list[float]] = {
        f"{side} {form}": [] for form in forms for side in ("direct", "automl")
    }
    for r in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="automl-own-") as tmp:
            runs["direct function"].append(direct_function(args.trials))
            runs["automl function"].append(through_automl("function", args.trials, Path(tmp)))
            runs["direct program"].append(direct_program(args.trials))
            runs["automl program"].append(through_automl("program", args.trials, Path(tmp)))
            runs["direct program (log lines)"].append(direct_program(args.trials, log_lines=True))
            runs["automl program (log lines)"].append(
                through_automl("program (log lines)", args.trials, Path(tmp))
            )
        print(
            f"repeat {r + 1}: " + ", ".join(f"{k} {v[-1] * 1000:.0f} ms" for k, v in runs.items()),
            flush=True,
        )
    med: dict[str, Any] = {k: statistics.median(v) for k, v in runs.items()}
    print(
        f"\nper trial, median of {args.repeats} runs of {args.trials} trials (0.1 s of work each):"
    )
    for form in forms:
        direct, auto = med[f"direct {form}"], med[f"automl {form}"]
        print(f"  {form:19}: direct {direct * 1000:6.1f} ms, through automl {auto * 1000:6.1f} ms, "
              f"overhead {(auto - direct) * 1000:6.1f} ms per trial")  # fmt: skip
    Path(args.out).write_text(
        json.dumps({"runs": runs, "medians": med, "trials": args.trials}, indent=2)
    )
    print(f"JSON in {args.out}")


if __name__ == "__main__":
    main()
