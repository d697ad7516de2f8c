"""A program shaped like a Hydra app: ``key=value`` overrides with dots (``optimizer.lr=0.1``),
the checkpoint in ``checkpoint=DIR``, ``+resume=true`` to go on from it, and its metrics
written as TensorBoard scalars (tag ``val/loss``) under ``logdir=DIR``; nothing useful on
stdout. Tuned by tests/usercode with no automl import."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import load, log_argv, pause, save  # noqa: E402


def main() -> int:
    log_argv()
    cfg = {
        "optimizer.lr": "0.001",
        "trainer.max_steps": "6",
        "checkpoint": "ckpt",
        "logdir": "tb",
        "sleep": "0",
    }
    resume = False
    for arg in sys.argv[1:]:
        key, _, value = arg.partition("=")
        if key == "+resume":
            resume = value.lower() == "true"
        elif key in cfg:
            cfg[key] = value
        else:
            print(f"Could not override '{key}'", file=sys.stderr)
            return 1
    from torch.utils.tensorboard import SummaryWriter

    folder = Path(cfg["checkpoint"])
    start, total = load(folder) if resume else (0, 0.0)
    lr = float(cfg["optimizer.lr"])
    writer = SummaryWriter(cfg["logdir"], flush_secs=1)
    for step in range(start + 1, int(cfg["trainer.max_steps"]) + 1):
        pause(float(cfg["sleep"]))
        total += lr * step
        save(folder, step, total)
        writer.add_scalar("val/loss", 1 / (1 + total), step)
        writer.add_scalar("train/loss", 2 / (1 + total), step)
        writer.flush()
    writer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
