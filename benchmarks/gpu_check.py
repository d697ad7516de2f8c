"""GPU check: run the product's GPU code paths once on a real GPU and print a table.

    python benchmarks/gpu_check.py                 # on a machine with CUDA; about 2-4 minutes
    python benchmarks/gpu_check.py --device cpu    # the same checks on the CPU (GPU-only ones skip)

Without CUDA (and without ``--device cpu``) it prints "no CUDA device: nothing to check" and
exits 0. Every check prints a row (name, ok / FAILED / skipped, a figure, a note); the table is
printed again at the end, then one JSON line with every figure. Exit 1 when a check FAILED.

The checks, in order, with the time each should take on one GPU (H100/H200 class):

- ``stacked fp32|bf16|fp16``, ``per-fold fp32|bf16|fp16`` (~5 s each): one trial of 3-fold CV
  on digits through ``automl.training.cross_validate``: a plain MLP (the stacked path: the
  folds as one batched model) or the same MLP with batch norm (the per-fold path). fp16 uses the
  grad scaler, which only the per-fold path has, so "stacked fp16" must run the per-fold path.
  Checks the path, precision and device the trial reports, finite curves, accuracy >= 0.85.
- ``memory estimate`` (~10 s): training/memory.py's estimate for an MLP 3x1024, batch 512, 3
  folds, against ``torch.cuda.max_memory_allocated`` over that trial; ok when the peak is
  within estimate / 0.8 (the headroom the refusal leaves) and the estimate is at most 4x it.
- ``speed-up vs plain loop`` (~30 s): the built-in trial (5 folds, MLP 2x128, fp32) against a
  hand-written per-fold DataLoader loop on the same device, median of interleaved rounds.
- ``checkpoint resume`` (~40 s): ``automl run`` trains a trial on the GPU with a checkpoint
  every epoch, gets Ctrl-C after the first checkpoint, and a second ``automl run`` (another
  process) resumes it from the saved epoch (trial attributes ``checkpoint_epoch`` and
  ``resumed_from_epoch``).
- ``worker, 2 slots`` (~60 s): a private redis-server as broker, ``automl worker --gpus all
  --trials-per-gpu 2`` and ``automl run --backend celery`` of 4 trials with parallelism 2: both
  slots of the one GPU train, two at once.

The in-process checks run in a child process (a fresh one after a failure, so that a broken
CUDA context cannot fail the checks after it), each with its own timeout; the fleet checks
drive subprocesses with their own deadlines. ``--budget-s`` (default 450) skips what would
start after it, so the whole run stays under 8 minutes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROW = "GPUCHECK-ROW "  # a child's result line on stdout
# name -> (title, timeout on a GPU in s, timeout on the CPU in s)
TRAINER: dict[str, tuple[str, int, int]] = {
    f"{path}-{p}": (f"{title} {p}", 90, 120)
    for path, title in (("stacked", "stacked"), ("loop", "per-fold"))
    for p in ("fp32", "bf16", "fp16")
}
IN_CHILD: dict[str, tuple[str, int, int]] = {
    **TRAINER,
    "memory": ("memory estimate", 120, 60),
    "speed": ("speed-up vs plain loop", 180, 120),
}
FLEET = {"resume": "checkpoint resume", "worker": "worker, 2 slots"}
# Sizes per device: the CPU run is to exercise the script, the GPU run to exercise the GPU.
SIZES = {
    "cuda": {
        "trainer_epochs": 10,
        "speed_epochs": 20,
        "speed_rounds": 5,
        "resume_epochs": 300,
        "worker_epochs": 30,
    },
    "cpu": {
        "trainer_epochs": 3,
        "speed_epochs": 6,
        "speed_rounds": 2,
        "resume_epochs": 15,
        "worker_epochs": 5,
    },
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--device",
        choices=["cuda", "cpu"],
        default="cuda",
        help="cuda (default) or cpu: the same checks on the CPU, GPU-only ones skip",
    )
    p.add_argument(
        "--budget-s",
        type=float,
        default=450.0,
        help="skip checks that would start after this many seconds (default: 450)",
    )
    p.add_argument(
        "--only",
        help="comma-separated check names to run (default: all): " + ", ".join([*IN_CHILD, *FLEET]),
    )
    p.add_argument("--child", help=argparse.SUPPRESS)  # the in-process checks, in a child
    return p.parse_args()


# -- the child: in-process checks, one JSON line each -------------------------------------------


def run_child(names: list[str], device: str) -> int:
    from gpu_check_train import Outcome, memory_check, speed_check, trainer_check, warm_up

    from automl.training import DataCache

    sizes, cache = SIZES[device], DataCache()
    warm_up(device, cache)
    for name in names:
        try:
            if name in TRAINER:
                path, precision = name.split("-")
                outcome = trainer_check(device, path, precision, sizes["trainer_epochs"], cache)
            elif name == "memory":
                outcome = memory_check(device, cache)
            else:
                outcome = speed_check(device, sizes["speed_epochs"], sizes["speed_rounds"], cache)
        except Exception as exc:  # noqa: BLE001 - a failure is a row, not a crash
            outcome = Outcome("FAILED", note=f"{type(exc).__name__}: {' '.join(str(exc).split())}")
        print(ROW + json.dumps({"name": name, **asdict(outcome)}), flush=True)
        if outcome.status == "FAILED":
            return 3  # the parent goes on in a fresh process
    return 0


class Child:
    """A child process running in-process checks; its rows read with a timeout."""

    def __init__(self, names: list[str], device: str, stderr: Path) -> None:
        self.stderr = stderr
        with stderr.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "--device", device, "--child", ",".join(names)],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        self.rows: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(ROW):
                self.rows.put(json.loads(line[len(ROW) :]))
        self.rows.put(None)  # the child ended

    def next_row(self, timeout_s: float) -> dict[str, Any] | str:
        """The next row, or why there is none."""
        try:
            row = self.rows.get(timeout=max(timeout_s, 1.0))
        except queue.Empty:
            return f"timed out after {timeout_s:.0f} s"
        if row is None:
            self.proc.wait()
            last = " | ".join(self.stderr.read_text(errors="replace").strip().splitlines()[-2:])
            return f"the check process died (exit {self.proc.returncode}): {last[-300:]}"
        return row

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def run_in_children(
    names: list[str], device: str, work: Path, deadline: float
) -> Iterator[dict[str, Any]]:
    pending = list(names)
    while pending:
        child = Child(pending, device, work / f"child-{len(names) - len(pending)}.err")
        try:
            for name in list(pending):
                pending.remove(name)
                _, gpu_s, cpu_s = IN_CHILD[name]
                timeout = min(gpu_s if device == "cuda" else cpu_s, deadline - time.monotonic())
                if timeout < 5:  # and so for every check after it
                    yield row(name, "skipped", note="out of time (--budget-s)")
                    continue
                got = child.next_row(timeout)
                if isinstance(got, dict) and got["name"] != name:
                    got = f"the check process answered for {got['name']}"
                yield got if isinstance(got, dict) else row(name, "FAILED", note=got)
                if not isinstance(got, dict) or got["status"] == "FAILED":
                    break  # a fresh process for the rest
        finally:
            child.stop()


# -- the parent -----------------------------------------------------------------------------------


def row(name: str, status: str, figure: str = "", note: str = "", **figures: Any) -> dict[str, Any]:
    return {"name": name, "status": status, "figure": figure, "note": note, "figures": figures}


def run_fleet(name: str, device: str, work: Path, deadline: float) -> dict[str, Any]:
    from gpu_check_fleet import resume_check, worker_check

    if deadline - time.monotonic() < 30:
        return row(name, "skipped", note="out of time (--budget-s)")
    sizes = SIZES[device]
    try:
        if name == "resume":
            outcome = resume_check(device, sizes["resume_epochs"], work, deadline)
        else:
            outcome = worker_check(device, sizes["worker_epochs"], work, deadline)
    except Exception as exc:  # noqa: BLE001 - a failure is a row, not a crash
        return row(name, "FAILED", note=f"{type(exc).__name__}: {' '.join(str(exc).split())}")
    return {"name": name, **asdict(outcome)}


def title(name: str) -> str:
    return IN_CHILD[name][0] if name in IN_CHILD else FLEET[name]


def format_row(r: dict[str, Any]) -> str:
    return f"{title(r['name']):<24} {r['status']:<8} {r['figure']:<44} {r['note']}".rstrip()


def describe(device: str) -> str:
    import torch

    if device == "cpu":
        return f"CPU ({os.cpu_count()} cores), torch {torch.__version__}"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return (
        f"{torch.cuda.get_device_name(0)} ({torch.cuda.device_count()} GPU(s) visible"
        f"{f', CUDA_VISIBLE_DEVICES={visible}' if visible is not None else ''}), "
        f"torch {torch.__version__}, CUDA {torch.version.cuda}"
    )


def main() -> int:
    args = parse_args()
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 0
    if args.child:
        return run_child(args.child.split(","), args.device)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from gpu_check_fleet import new_workspace

    names = [*IN_CHILD, *FLEET]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    work, started = new_workspace(), time.monotonic()
    deadline = started + args.budget_s
    print(f"GPU check on {describe(args.device)}; logs in {work}", flush=True)
    rows = []
    child_names = [n for n in names if n in IN_CHILD]
    fleet = (run_fleet(n, args.device, work, deadline) for n in names if n in FLEET)
    for r in itertools.chain(run_in_children(child_names, args.device, work, deadline), fleet):
        print(format_row(r), flush=True)
        rows.append(r)
    wall = time.monotonic() - started
    print(f"\n{'check':<24} {'result':<8} {'figure':<44} note")
    for r in rows:
        print(format_row(r))
    failed = [r["name"] for r in rows if r["status"] == "FAILED"]
    print(f"{len(rows)} checks in {wall:.0f} s: {len(failed)} failed")
    summary = {
        "device": args.device,
        "on": describe(args.device),
        "wall_s": round(wall, 1),
        "failed": failed,
        "checks": {
            r["name"]: {"status": r["status"], "note": r["note"], **r["figures"]} for r in rows
        },
    }
    print(json.dumps(summary))
    if failed:
        print(f"logs kept in {work}", file=sys.stderr)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
