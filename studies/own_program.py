"""Your own training code, as a program: the CNN of `own_training.py`, run from the command
line. `own_program.yaml` tunes it; automl runs, per trial:

    python studies/own_program.py --lr 0.003 --weight_decay 1e-05 --channels 16 ...

The program prints one JSON object per line on stdout: {"step": epoch, "value": accuracy}
after every epoch, and {"value": accuracy} at the end. Whatever it writes to
$AUTOML_CHECKPOINT_DIR is kept, and a trial run again after its worker died finds it there.
Run by hand (without automl) it trains with the defaults below and prints the same lines.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from own_training import EPOCHS, accuracy, datasets, make_model, restore, train_epoch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--weight_decay", type=float, default=1e-5)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--batch_size", type=int, default=64)
    args = parser.parse_args()

    torch.manual_seed(0)
    train_set, val_set = datasets()
    shuffle = torch.Generator().manual_seed(0)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, generator=shuffle)
    val_loader = DataLoader(val_set, batch_size=256)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = make_model(args.channels, args.dropout).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)

    folder = Path(os.environ.get("AUTOML_CHECKPOINT_DIR", "."))
    saved = folder / "state.pt"
    # A retry of a trial whose worker died finds the folder as it was: continue from there.
    start = restore(torch.load(saved, weights_only=True), model, optimizer, shuffle) if saved.exists() else 1

    acc = 0.0
    for epoch in range(start, EPOCHS + 1):
        train_epoch(model, optimizer, train_loader, device)
        acc = accuracy(model, val_loader, device)
        state = {"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "shuffle": shuffle.get_state(), "rng": torch.get_rng_state()}  # fmt: skip
        torch.save(state, folder / "state.tmp")
        os.replace(folder / "state.tmp", saved)  # whole or not at all
        print(json.dumps({"step": epoch, "value": acc}), flush=True)
    print(json.dumps({"value": acc}), flush=True)


if __name__ == "__main__":
    main()
