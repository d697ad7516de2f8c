"""A program in the most common shape: argparse with dashes in names and a store-true flag,
``--save DIR`` for its checkpoint, ``--resume`` to go on from it, and its own log lines
(``epoch 3 | train_loss 0.41 | val_acc=0.8123``: no step in the value's pattern, so the n-th
match is step n). Tuned by tests/usercode with no automl import."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import load, log_argv, pause, save  # noqa: E402


def main() -> int:
    log_argv()
    parser = argparse.ArgumentParser()
    parser.add_argument("--learning-rate", type=float, required=True)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--tied", action="store_true")
    parser.add_argument("--note", default="")
    parser.add_argument("--save", required=True)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--sleep", type=float, default=0.0)
    args = parser.parse_args()
    folder = Path(args.save)
    start, total = load(folder) if args.resume else (0, 0.0)
    if args.resume and start == 0:
        print("--resume given but nothing to resume", file=sys.stderr)
        return 4
    for epoch in range(start + 1, args.epochs + 1):
        pause(args.sleep)
        total += args.learning_rate * epoch * (2.0 if args.tied else 1.0)
        save(folder, epoch, total)
        print(
            f"epoch {epoch} | train_loss {1 / (1 + total):.4f} | val_acc={total / (1 + total):.6f}",
            flush=True,
        )
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
