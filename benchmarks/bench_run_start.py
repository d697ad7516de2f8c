"""Where ``automl run``'s start-up goes on the fleet: imports (the libraries', automl's own) and
the rest, up to the first trial.

    python benchmarks/bench_run_start.py --repeats 5

One ``automl worker`` (one CPU process) on the machine's Redis (``--broker``, database 13 by
default) and PostgreSQL (``--storage``, the ``test`` database), started before any clock. Then,
per repeat, interleaved, each a fresh process timed from its start:

- **run**: ``python -m automl run study.yaml --backend celery``, a one-trial study of
  ``fleet_function`` (bench_fleet.py's study file): the first trial's ``datetime_start`` (when
  the coordinator created it) after the process started, and the process's wall time.
- **run, -X importtime**: the same under ``python -X importtime``: the self time of every module
  imported, summed by owner (automl, the libraries, Python's standard library). importtime
  slows imports down, so its sums are read as shares, not as the run's seconds.
- **libraries alone**: a fresh ``python -c`` that imports the same third-party modules as that
  run recorded, in its order, and nothing of automl, timed from its start until its imports
  are done (its exit left out: Python's last garbage collection of all those modules takes
  about 0.25 s here, which ``automl`` skips): the floor no code of ours can go below while it
  uses these libraries.
- **python**: the same fresh process importing nothing: Python's own start.

Medians over ``--repeats``. Nothing else should run meanwhile. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_fleet import FUNCTION_YAML  # noqa: E402 - the same study file as bench_fleet.py
from bench_fleet_ab import add_machine_services, start_pool  # noqa: E402

IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", re.M)


def owner(module: str) -> str:
    top = module.split(".")[0]
    if top == "automl":
        return "automl"
    return "stdlib" if top in sys.stdlib_module_names or top.startswith("_") else "libraries"


def first_start_s(storage: str, study: str, t0: float) -> float:
    import optuna

    trials = optuna.load_study(study_name=study, storage=storage).trials
    return min(t.datetime_start.timestamp() for t in trials if t.datetime_start) - t0


def run_once(args: argparse.Namespace, folder: Path, queue: str, env: dict[str, str],
             importtime: bool) -> tuple[float, float, str]:  # fmt: skip
    name = f"start-{uuid.uuid4().hex[:8]}"
    study = folder / f"{name}.yaml"
    study.write_text(FUNCTION_YAML.format(name=name, storage=args.storage, broker=args.broker,
                                          queue=queue, parallelism=1, n_trials=1))  # fmt: skip
    python = [sys.executable, *(["-X", "importtime"] if importtime else [])]
    t0 = time.time()
    done = subprocess.run([*python, "-m", "automl", "run", str(study), "--backend", "celery"],
                          env=env, capture_output=True, text=True, check=True)  # fmt: skip
    wall = time.time() - t0
    return first_start_s(args.storage, name, t0), wall, done.stderr


def imports_done_s(modules: list[str], env: dict[str, str]) -> float:
    """A fresh process importing ``modules``: its start until they are imported."""
    program = (
        "import importlib, time\nfor name in "
        + repr(modules)
        + ":\n    try:\n        importlib.import_module(name)\n"
        "    except Exception:\n        pass\nprint(time.time())\n"
    )
    t0 = time.time()
    done = subprocess.run([sys.executable, "-c", program], env=env, check=True,
                          capture_output=True, text=True)  # fmt: skip
    return float(done.stdout.split()[-1]) - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    add_machine_services(p)
    args = p.parse_args()
    folder = Path(f"/tmp/automl-run-start-{uuid.uuid4().hex[:6]}")
    folder.mkdir()
    src = HERE.parent / "src"
    env = dict(os.environ, PYTHONPATH=f"{src}:{HERE}", FLEET_EPOCH_SLEEP_S="0")
    queue = f"start-{uuid.uuid4().hex[:8]}"
    worker = start_pool(args, queue, 1, env, folder / "worker.log")
    rows: dict[str, list[float]] = {}
    try:
        run_once(args, folder, queue, env, importtime=False)  # warm the disk cache and the worker
        for _ in range(args.repeats):
            first, wall, _ = run_once(args, folder, queue, env, importtime=False)
            rows.setdefault("run: first trial after s", []).append(first)
            rows.setdefault("run: wall s", []).append(wall)
            _, _, log_text = run_once(args, folder, queue, env, importtime=True)
            found = IMPORT_LINE.findall(log_text)
            sums: dict[str, float] = {"automl": 0.0, "libraries": 0.0, "stdlib": 0.0}
            for micros, module in found:
                sums[owner(module)] += int(micros) / 1e6
            for kind, total in sums.items():
                rows.setdefault(f"-X importtime: {kind} self s", []).append(total)
            libraries = [m for _, m in found if owner(m) == "libraries"]
            rows.setdefault("libraries alone s", []).append(imports_done_s(libraries, env))
            rows.setdefault("python -c pass s", []).append(imports_done_s([], env))
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=60)
    summary = {k: round(statistics.median(v), 3) for k, v in rows.items()}
    print(f"{'measure':<36} {'median':>8}   (of {args.repeats}; each value)")
    for k, v in rows.items():
        print(f"{k:<36} {summary[k]:>8.3f}   " + ", ".join(f"{x:.3f}" for x in v))
    print(json.dumps({"repeats": args.repeats, **summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
