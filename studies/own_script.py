"""A training script in the conventions of nanoGPT's train.py, with no automl in it:
settings are module globals overridden by `--key=value` arguments (each value literal-eval'd,
as nanoGPT's configurator does), it logs its own lines, it keeps its checkpoint in `out_dir`
and goes on from it with `--init_from=resume`. It trains a small MLP on scikit-learn's digits.

    python studies/own_script.py --learning_rate=0.01 --n_embd=64 --out_dir=out
    python studies/own_script.py --out_dir=out --max_iters=16 --init_from=resume

`own_script.yaml` tunes it as it is: automl reads `step N: train loss X, val loss Y` lines.
"""

from __future__ import annotations

import os
import sys
from ast import literal_eval

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

# -- settings; `--key=value` overrides any of them --------------------------------------------
out_dir = "out"
init_from = "scratch"  # or "resume": go on from out_dir/ckpt.pt
max_iters = 12  # epochs
eval_interval = 1
learning_rate = 1e-2
weight_decay = 1e-4
n_embd = 64
n_layer = 2
dropout = 0.1
bias = True
batch_size = 64
seed = 1337
for arg in sys.argv[1:]:
    key, _, text = arg.removeprefix("--").partition("=")
    if key not in globals() or key.startswith("_"):
        raise ValueError(f"Unknown config key: {key}")
    try:
        value = literal_eval(text)
    except (SyntaxError, ValueError):
        value = text
    globals()[key] = value

# -- data and model -------------------------------------------------------------------------
torch.manual_seed(seed)
torch.set_num_threads(1)
X, y = load_digits(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
X_train, X_val = torch.tensor(X_train, dtype=torch.float32), torch.tensor(X_val, dtype=torch.float32)
y_train, y_val = torch.tensor(y_train), torch.tensor(y_val)
layers: list[nn.Module] = []
width = X_train.shape[1]
for _ in range(n_layer):
    layers += [nn.Linear(width, n_embd, bias=bias), nn.GELU(), nn.Dropout(dropout)]
    width = n_embd
model = nn.Sequential(*layers, nn.Linear(width, 10, bias=bias))
optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
iter_num, best_val_loss = 0, 1e9
ckpt_path = os.path.join(out_dir, "ckpt.pt")
if init_from == "resume":
    print(f"Resuming training from {out_dir}")
    checkpoint = torch.load(ckpt_path, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    torch.set_rng_state(checkpoint["rng"])
    iter_num, best_val_loss = checkpoint["iter_num"], checkpoint["best_val_loss"]


@torch.no_grad()
def estimate_loss() -> tuple[float, float]:
    model.eval()
    losses = [nn.functional.cross_entropy(model(x), t).item() for x, t in ((X_train, y_train), (X_val, y_val))]
    model.train()
    return losses[0], losses[1]


# -- training loop ----------------------------------------------------------------------------
while iter_num < max_iters:
    iter_num += 1
    order = torch.randperm(len(X_train))
    for i in range(0, len(order), batch_size):
        batch = order[i : i + batch_size]
        loss = nn.functional.cross_entropy(model(X_train[batch]), y_train[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if iter_num % eval_interval == 0:
        train_loss, val_loss = estimate_loss()
        best_val_loss = min(best_val_loss, val_loss)
        os.makedirs(out_dir, exist_ok=True)
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(),
                 "iter_num": iter_num, "best_val_loss": best_val_loss}  # fmt: skip
        torch.save(state, ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)  # saved before the line that reports it
        print(f"step {iter_num}: train loss {train_loss:.4f}, val loss {val_loss:.4f}", flush=True)
