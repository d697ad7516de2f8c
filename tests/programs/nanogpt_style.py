"""A program shaped like nanoGPT's train.py: ``--key=value`` arguments read by a configurator
that literal-evals each value into a global of the same name, ``out_dir`` for its checkpoint,
``--init_from=resume`` to go on from it, and log lines ``step 3: train loss 1.42, val loss
1.58``. Tuned by tests/usercode with no automl import."""

from __future__ import annotations

import sys
from ast import literal_eval
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import load, log_argv, pause, save  # noqa: E402

# -- defaults, overridden from the command line (as nanoGPT's configurator.py does) --
learning_rate = 1e-3
max_iters = 6
out_dir = "out"
init_from = "scratch"
dropout = 0.0
bias = False
sleep = 0.0
log_argv()
for arg in sys.argv[1:]:
    key, _, text = arg.removeprefix("--").partition("=")
    if key not in globals():
        raise ValueError(f"Unknown config key: {key}")
    try:
        value = literal_eval(text)
    except (SyntaxError, ValueError):
        value = text
    globals()[key] = value
# -- training --
folder = Path(out_dir)
iter_num, total = load(folder) if init_from == "resume" else (0, 0.0)
if init_from == "resume" and iter_num == 0:
    raise SystemExit("init_from=resume, but no checkpoint in out_dir")
while iter_num < max_iters:
    iter_num += 1
    pause(sleep)
    total += learning_rate * iter_num * (0.5 if bias else 1.0)
    save(folder, iter_num, total)
    print(
        f"step {iter_num}: train loss {1 / (1 + total):.4f}, val loss {1 / (1 + total):.6f}",
        flush=True,
    )
