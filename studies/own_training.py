"""Your own training code, as a function: a small CNN on scikit-learn's digits (8x8 images),
with its own Dataset, DataLoader, loss and loop. `own_function.yaml` tunes it:

    automl run studies/own_function.yaml        # from the repository's root folder

automl calls ``fit(params, trial)`` once per trial, in a worker process. The function reports
the validation accuracy after every epoch (the pruner may stop it there), saves a checkpoint
(a trial whose worker dies resumes from it), and returns the final accuracy.
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import DataLoader, Dataset

import automl

EPOCHS = 8


class Digits(Dataset):
    """scikit-learn's digits as 1x8x8 images in [0, 1], with their labels."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], self.labels[i]


def datasets() -> tuple[Digits, Digits]:
    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)

    def as_set(X_part, y_part) -> Digits:  # type: ignore[no-untyped-def]
        images = torch.tensor(X_part, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
        return Digits(images, torch.tensor(y_part, dtype=torch.long))

    return as_set(X_train, y_train), as_set(X_val, y_val)


def make_model(channels: int, dropout: float) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * channels * 2 * 2, 10),
    )  # fmt: skip


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader, device: torch.device) -> float:
    model.train()
    total, rows = 0.0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        loss = nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total, rows = total + loss.item() * len(labels), rows + len(labels)
    return total / rows


def restore(state: dict, model: nn.Module, optimizer: torch.optim.Optimizer, shuffle: torch.Generator) -> int:
    """Continue a trial whose worker died from its last checkpoint; the epoch to start at."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    shuffle.set_state(state["shuffle"])
    torch.set_rng_state(state["rng"])
    return int(state["epoch"]) + 1


@torch.no_grad()
def accuracy(model: nn.Module, loader: DataLoader, device: torch.device) -> float:
    model.eval()
    right = sum((model(x.to(device)).argmax(1) == y.to(device)).sum().item() for x, y in loader)
    return right / len(loader.dataset)  # type: ignore[arg-type]


def fit(params: dict, trial: automl.TrialContext) -> float:
    torch.manual_seed(0)
    train_set, val_set = datasets()
    shuffle = torch.Generator().manual_seed(0)
    train_loader = DataLoader(train_set, batch_size=int(params["batch_size"]), shuffle=True, generator=shuffle)
    val_loader = DataLoader(val_set, batch_size=256)
    model = make_model(int(params["channels"]), float(params["dropout"])).to(trial.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=params["lr"], weight_decay=params["weight_decay"])

    state = trial.load_checkpoint()  # None on a fresh start
    start = restore(state, model, optimizer, shuffle) if state is not None else 1

    acc = 0.0
    for epoch in range(start, EPOCHS + 1):
        loss = train_epoch(model, optimizer, train_loader, trial.device)
        acc = accuracy(model, val_loader, trial.device)
        trial.report(acc, epoch)  # raises automl.TrialPruned when the pruner says stop
        trial.log(train_loss=loss)  # extra metrics, for the trackers
        trial.save_checkpoint({
            "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "shuffle": shuffle.get_state(), "rng": torch.get_rng_state(),
        })  # fmt: skip
    return acc
