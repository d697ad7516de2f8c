"""Two versions of automl side by side on the same fleet run: which one's trials flow faster.

    python benchmarks/bench_fleet_ab.py --baseline /tmp/wt-base/src --candidate src --pairs 3

For each pair, each side in turn: W ``automl worker`` processes from that side's source tree
(``PYTHONPATH``), a short warm-up study, then ``automl run`` of N trials of 0.5 s (your own
function, :mod:`fleet_function`: 5 reports of 0.1 s, no pruner) from the same tree; the workers
stop before the other side starts. Reported per run: the efficiency (N x 0.5 s / W over the
command's wall time, as ``bench_fleet.py`` counts it) and, from the worker log, each slot's
"training" to "ended" time (the trial in the worker) and the gap from "ended" to the slot's
next "training" (the hand-over between two trials). The machine's PostgreSQL (``--storage``,
default the ``test`` database) and Redis (``--broker``, default database 13); study names are
unique. Nothing else should run meanwhile. The last line is JSON.
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
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_fleet import FUNCTION_YAML  # noqa: E402 - the same study as bench_fleet.py

LINE = re.compile(r"^\[(\S+ \S+): [^\]]*\] (?:training trial (\d+) of (\S+) on (\S+)|"
                  r"trial (\d+) of (\S+) ended \S+ on (\S+))", re.M)  # fmt: skip


def run_side(src: str, args: argparse.Namespace, folder: Path, tag: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=f"{Path(src).resolve()}:{HERE}", AUTOML_LOG_LEVEL="INFO")
    queue = f"ab-{uuid.uuid4().hex[:8]}"
    log = folder / f"workers-{tag}.log"
    automl = [sys.executable, "-m", "automl"]
    pool = start_pool(args, queue, args.workers, env, log)
    try:
        walls = {}
        for kind, n in (("warm", 2 * args.workers), ("run", args.trials)):
            name = f"ab-{tag}-{kind}-{uuid.uuid4().hex[:6]}"
            study = folder / f"{name}.yaml"
            study.write_text(FUNCTION_YAML.format(name=name, storage=args.storage,
                broker=args.broker, queue=queue, parallelism=args.workers, n_trials=n))  # fmt: skip
            t0 = time.perf_counter()
            command = [*automl, "run", str(study), "--backend", "celery"]
            quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
            subprocess.run(command, env=env, check=True, **quiet)  # type: ignore[call-overload]
            walls[kind] = (time.perf_counter() - t0, name)
    finally:
        os.killpg(pool.pid, 15)
        pool.wait(timeout=60)
    wall, name = walls["run"]
    runs, gaps = slot_times(log.read_text(errors="replace"), name)
    return {
        "efficiency": round(args.trials * 0.5 / args.workers / wall, 4),
        "wall_s": round(wall, 2),
        "in_worker_ms": round(1000 * statistics.median(runs), 1),
        "gap_ms_median": round(1000 * statistics.median(gaps), 1),
        "gap_ms_mean": round(1000 * statistics.mean(gaps), 1),
    }


def start_pool(
    args: argparse.Namespace, queue: str, processes: int, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """``automl worker`` with ``processes`` CPU processes on ``queue`` (the machine's broker and
    storage in ``args``), returned once every process logged that it is ready."""
    with log.open("wb") as out:
        pool = subprocess.Popen(
            [sys.executable, "-m", "automl", "worker", "--broker", args.broker, "--storage",
             args.storage, "--queues", queue, "--gpus", "none", "--concurrency", str(processes)],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 120
    while log.read_text(errors="replace").count(" ready on queues ") < processes:
        if time.monotonic() > deadline or pool.poll() is not None:
            os.killpg(pool.pid, 15)
            raise RuntimeError(f"automl worker did not start; see {log}")
        time.sleep(0.5)
    return pool


def add_machine_services(p: argparse.ArgumentParser) -> None:
    """``--storage`` and ``--broker``: the machine's PostgreSQL and Redis by default."""
    p.add_argument("--storage", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--broker", default="redis://127.0.0.1:6379/13")


def slot_times(text: str, study: str) -> tuple[list[float], list[float]]:
    """Per slot: "training" to "ended" of each trial, and "ended" to the next "training"."""
    events: dict[str, list[tuple[str, float]]] = {}
    for m in LINE.finditer(text):
        if (m.group(3) or m.group(6)) != study:
            continue
        at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        slot, kind = (m.group(4), "start") if m.group(2) else (m.group(7), "end")
        events.setdefault(slot, []).append((kind, at))
    runs, gaps = [], []
    for seq in events.values():
        seq.sort(key=lambda e: e[1])
        for (a, ta), (b, tb) in zip(seq, seq[1:], strict=False):
            if (a, b) == ("start", "end"):
                runs.append(tb - ta)
            elif (a, b) == ("end", "start"):
                gaps.append(tb - ta)
    return runs, gaps


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", required=True, help="the source tree (its src/) to compare with")
    p.add_argument("--candidate", required=True, help="the source tree (its src/) to measure")
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--trials", type=int, default=240)
    add_machine_services(p)
    args = p.parse_args()
    folder = Path(f"/tmp/automl-fleet-ab-{uuid.uuid4().hex[:6]}")
    folder.mkdir()
    sides: dict[str, list[dict[str, float]]] = {"baseline": [], "candidate": []}
    for pair in range(args.pairs):
        order = ["baseline", "candidate"] if pair % 2 == 0 else ["candidate", "baseline"]
        for side in order:
            got = run_side(getattr(args, side), args, folder, f"{side}{pair}")
            sides[side].append(got)
            print(f"pair {pair} {side:9s} {got}", flush=True)
    summary = {
        side: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        for side, runs in sides.items()
    }
    for side, med in summary.items():
        print(f"{side:9s} medians: {med}")
    print(json.dumps({"args": vars(args), "runs": sides, "medians": summary, "logs": str(folder)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
