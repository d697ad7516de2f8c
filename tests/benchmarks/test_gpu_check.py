"""benchmarks/gpu_check.py: without CUDA it says so and exits 0; with ``--device cpu`` every
check it does not skip passes (the GPU-only ones skip with a reason)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"
CHECKS = {"stacked-fp32", "stacked-bf16", "stacked-fp16", "loop-fp32", "loop-bf16", "loop-fp16",
          "memory", "speed", "resume", "worker"}  # fmt: skip


def run_script(*args: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")  # no GPU, even on a machine that has one
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env,
        timeout=timeout_s,
    )  # fmt: skip


def test_without_cuda_it_says_so_and_exits_0() -> None:
    done = run_script(timeout_s=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "no CUDA device: nothing to check"


@pytest.mark.slow  # trains, and starts automl run and automl worker (about 2-3 minutes)
@pytest.mark.integration  # the worker check starts a redis-server of its own
@pytest.mark.timeout(660)
def test_on_the_cpu_every_check_that_runs_passes() -> None:
    done = run_script("--device", "cpu", timeout_s=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    checks = summary["checks"]
    assert set(checks) == CHECKS and summary["failed"] == []
    assert all(c["status"] in ("ok", "skipped") for c in checks.values()), checks
    assert all(c["note"] for c in checks.values() if c["status"] == "skipped"), "a reason each"
    assert checks["memory"]["status"] == "skipped"  # max_memory_allocated needs a GPU
    assert checks["stacked-fp32"]["path"] == "stacked" and checks["loop-fp32"]["path"] == "loop"
    assert checks["stacked-fp16"]["path"] == "loop"  # the grad scaler is on the per-fold path
    assert "\ncheck " in done.stdout  # the table, printed at the end
