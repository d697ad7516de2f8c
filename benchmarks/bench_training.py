"""Built-in trial vs a plain per-fold DataLoader loop: 5-fold CV, MLP 2x128, digits, on the CPU.

Both sides train the same architecture with the same optimiser, learning rate, batch size and
number of epochs on the same folds, and score every fold after every epoch (a pruner needs
that). The plain side is what one writes by hand: for each fold, a model, a ``DataLoader``
over a ``TensorDataset`` with ``shuffle=True``, and the usual loop. The built-in side is
:func:`automl.training.cross_validate`, which trains the 5 fold models as one stacked model; its
per-fold loop path (used for batch norm, CNNs, user builders) is timed too.

    python benchmarks/bench_training.py --repeats 5 --threads 1

Prints the median wall time of each side, the mean 5-fold accuracy at the last epoch, and
the speed-up. Data loading is outside the timings (both sides use the same loaded data set).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import automl.training.crossval as crossval
from automl.studyfile import StudySpec, parse_spec
from automl.training import DataCache, Dataset, NullReporter, cross_validate, cv_splits
from automl.training.models import stackable

STUDY = """
name: bench-digits-mlp
objective: {{metric: accuracy}}
data: {{source: "sklearn:digits", cv: {{folds: 5, seed: 0}}}}
model: {{family: mlp}}
trainer: {{epochs: {epochs}, batch_size: 128, device: cpu, precision: fp32, seed: 0}}
"""
LR = 1e-3
PARAMS = {"depth": 2, "width": 128, "lr": LR, "optimizer": "adamw"}


def plain_loop(spec: StudySpec, dataset: Dataset) -> float:
    """The hand-written baseline; returns the mean last-epoch validation accuracy."""
    epochs = spec.trainer.epochs
    final = []
    for fold, (train_rows, val_rows) in enumerate(cv_splits(dataset, spec.data)):
        torch.manual_seed(fold)
        X = dataset.X_train.reshape(len(dataset.X_train), -1)
        scaler = StandardScaler().fit(X[train_rows])
        X_tr = torch.tensor(scaler.transform(X[train_rows]), dtype=torch.float32)
        X_va = torch.tensor(scaler.transform(X[val_rows]), dtype=torch.float32)
        y_tr = torch.tensor(dataset.y_train[train_rows])
        y_va = dataset.y_train[val_rows]
        model = nn.Sequential(
            nn.Linear(X.shape[1], 128),
            nn.ReLU(),
            nn.Linear(128, 128),
            nn.ReLU(),
            nn.Linear(128, 10),
        )
        optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
        loader = DataLoader(TensorDataset(X_tr, y_tr), batch_size=128, shuffle=True)
        for _ in range(epochs):
            model.train()
            for xb, yb in loader:
                loss = nn.functional.cross_entropy(model(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                accuracy = float((model(X_va).argmax(1).numpy() == y_va).mean())
        final.append(accuracy)
    return float(np.mean(final))


def built_in(spec: StudySpec, cache: DataCache, *, stacked: bool) -> float:
    """cross_validate on the stacked fast path, or forced onto the per-fold loop path."""
    crossval.stackable = stackable if stacked else (lambda *_: False)  # type: ignore[assignment]
    try:
        result = cross_validate(spec, PARAMS, NullReporter(), cache=cache)
    finally:
        crossval.stackable = stackable
    assert result.path == ("stacked" if stacked else "loop")
    return result.curve[-1]


def interleaved(
    sides: dict[str, Callable[[], float]], repeats: int
) -> dict[str, tuple[float, float, float]]:
    """Run the sides in turn, ``repeats`` rounds, so that a busy spell on the machine hits all
    of them alike. Returns (median seconds, fastest seconds, accuracy) per side."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    scores: dict[str, float] = {}
    for _ in range(repeats):
        for name, fn in sides.items():
            start = time.perf_counter()
            scores[name] = fn()
            times[name].append(time.perf_counter() - start)
    return {n: (statistics.median(t), min(t), scores[n]) for n, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = parse_spec(STUDY.format(epochs=args.epochs))
    cache = DataCache()
    dataset = cache.get(spec.data, spec.objective.metric.task)
    # Warm up both sides once (first-call costs of torch and scikit-learn), untimed.
    built_in(spec, cache, stacked=True)
    plain_loop(spec, dataset)
    rows = interleaved(
        {
            "plain per-fold DataLoader loop": lambda: plain_loop(spec, dataset),
            "built-in, per-fold loop path": lambda: built_in(spec, cache, stacked=False),
            "built-in, stacked fast path": lambda: built_in(spec, cache, stacked=True),
        },
        args.repeats,
    )
    base_median, base_best, _ = rows["plain per-fold DataLoader loop"]
    print(
        f"digits, 5 folds x {args.epochs} epochs, MLP 2x128 adamw, batch 128, "
        f"{torch.get_num_threads()} torch thread(s), {args.repeats} interleaved rounds"
    )
    print(f"{'':32} {'median s':>9} {'best s':>7} {'accuracy':>9} {'speed-up (median, best)':>25}")
    for name, (median, best, accuracy) in rows.items():
        ratios = f"{base_median / median:.2f}x, {base_best / best:.2f}x"
        print(f"{name:32} {median:9.2f} {best:7.2f} {accuracy:9.4f} {ratios:>25}")


if __name__ == "__main__":
    main()
