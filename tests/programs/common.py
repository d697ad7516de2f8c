"""What the three test programs share: a deterministic curve kept in a checkpoint, and a log
of the arguments each run got (``PROGRAM_ARGV_LOG``, when set), for the tests to read.

The curve: ``total`` grows by ``lr * step`` each step; a resumed run ends with the value of an
uninterrupted one only if its state really came back from its own checkpoint file. This file
is imported by the programs only; automl never imports it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def log_argv() -> None:
    path = os.environ.get("PROGRAM_ARGV_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(sys.argv[1:]) + "\n")


def load(folder: Path) -> tuple[int, float]:
    saved = folder / "ckpt.json"
    if not saved.exists():
        return 0, 0.0
    state = json.loads(saved.read_text())
    return int(state["step"]), float(state["total"])


def save(folder: Path, step: int, total: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "ckpt.json.tmp"
    tmp.write_text(json.dumps({"step": step, "total": total}))
    tmp.replace(folder / "ckpt.json")  # step N's state is whole before step N's line


def pause(seconds: float) -> None:
    time.sleep(seconds)


def uninterrupted(lr: float, steps: int) -> float:
    return sum(lr * s for s in range(1, steps + 1))
