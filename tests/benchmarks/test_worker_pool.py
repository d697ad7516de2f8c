"""benchmarks/chaos.py's WorkerPool: a worker that exits before it is ready fails the wait at
once, naming its exit code and its last line, instead of after the whole timeout."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from chaos import WorkerPool  # noqa: E402


def test_a_worker_that_exits_before_it_is_ready_fails_at_once(tmp_path: Path) -> None:
    script = "import sys; print('ModuleNotFoundError: no module named tzlocal'); sys.exit(3)"
    pool = WorkerPool([sys.executable, "-c", script], dict(os.environ), tmp_path / "w.log", 2)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"exited 3 before it was ready: ModuleNotFoundError"):
        pool.start(timeout_s=120)
    assert time.monotonic() - started < 30
    pool.stop()


def test_ready_processes_end_the_wait(tmp_path: Path) -> None:
    script = (
        "import time; print('a ready on queues x'); print('b ready on queues x', flush=True); "
        "time.sleep(60)"
    )
    pool = WorkerPool([sys.executable, "-c", script], dict(os.environ), tmp_path / "w.log", 2)
    try:
        pool.start(timeout_s=30)
        assert pool.proc is not None and pool.proc.poll() is None
    finally:
        pool.stop()
    assert pool.proc.poll() is not None
