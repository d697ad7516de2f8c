"""The in-process checks of ``gpu_check.py``: each trains through the product's own entry point
(:func:`automl.training.cross_validate`) in the process that runs it, and returns a
:class:`Outcome`. ``gpu_check.py`` runs them in a child process, one JSON line per check.

- ``trainer``: one trial of 3-fold CV on digits, on the stacked path (a plain MLP) or the per-fold
  path (the same MLP with batch norm), in fp32, bf16 or fp16. The product sends fp16 (which
  needs the grad scaler) to the per-fold path whatever the model, so "stacked fp16" checks that
  it does. Checks the path, the precision and the device the trial reports, finite curves and
  an accuracy floor.
- ``memory``: training/memory.py's estimate of one trial (MLP 3x1024, batch 512, 3 folds, fp32)
  against ``torch.cuda.max_memory_allocated`` over that trial.
- ``speed``: the built-in trial against a plain hand-written loop (a ``DataLoader`` per fold,
  batches moved to the device) training the same MLP 2x128 for the same folds and epochs on the
  same device; median of interleaved rounds after an untimed warm-up.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from automl.studyfile import StudySpec, parse_spec
from automl.training import DataCache, NullReporter, cross_validate, cv_splits
from automl.training.memory import FRACTION, trial_bytes

ACCURACY_FLOOR = 0.85  # digits after a few epochs: a trainer that learns clears it easily
SPEED_ACCURACY_GAP = 0.03  # built-in and plain loop must agree this closely
MB = 2**20

STUDY = """
name: gpu-check
objective: {{metric: accuracy}}
data: {{source: "sklearn:digits", cv: {{folds: {folds}, seed: 0}}}}
model: {{family: mlp}}
trainer: {{epochs: {epochs}, batch_size: {batch}, device: {device}, precision: {precision},
           seed: 0, checkpoint_every: none}}
space: {space}
"""


@dataclass
class Outcome:
    """What one check found: ``status`` is ok, FAILED or skipped; ``note`` says why."""

    status: str
    figure: str = ""
    note: str = ""
    figures: dict[str, Any] = field(default_factory=dict)


def study(
    device: str,
    precision: str = "fp32",
    *,
    epochs: int,
    folds: int = 3,
    batch: int = 128,
    space: str = "{}",
) -> StudySpec:
    return parse_spec(
        STUDY.format(
            device=device, precision=precision, epochs=epochs, folds=folds, batch=batch, space=space
        )
    )


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def warm_up(device: str, cache: DataCache) -> None:
    """Load the data and run one short trial, untimed, so that first-call costs (the CUDA
    context, cuBLAS, kernel loading, scikit-learn) stay out of the first check's figure."""
    if device == "cpu":
        torch.set_num_threads(1)  # steadier figures on a small shared machine
    cross_validate(study(device, epochs=1), {"width": 8}, NullReporter(), cache=cache)


# -- trainer paths and precisions ---------------------------------------------------------------


def trainer_check(device: str, path: str, precision: str, epochs: int, cache: DataCache) -> Outcome:
    """One trial on the ``path`` ("stacked" or "loop") configuration in ``precision``."""
    if precision == "bf16" and device.startswith("cuda") and not torch.cuda.is_bf16_supported():
        return Outcome("skipped", note="this GPU has no bf16")
    params: dict[str, Any] = {"lr": 1e-2, "width": 64, "depth": 2}
    if path == "loop":
        params["batch_norm"] = True  # batch norm keeps a model off the stacked path
    # fp16 needs the grad scaler, which only the per-fold path has (training/crossval.py).
    expected = "loop" if path == "loop" or precision == "fp16" else "stacked"
    spec = study(device, precision, epochs=epochs)
    sync(device)
    started = time.perf_counter()
    result = cross_validate(spec, params, NullReporter(), cache=cache)
    sync(device)
    seconds = time.perf_counter() - started
    accuracy = result.curve[-1]
    figures = {
        "seconds": round(seconds, 2),
        "accuracy": round(accuracy, 4),
        "path": result.path,
        "precision": result.precision,
        "device": result.device,
    }
    figure = f"{seconds:.2f} s, acc {accuracy:.3f}"
    problems = []
    if result.path != expected:
        problems.append(f"ran the {result.path} path, expected {expected}")
    if result.precision != precision:
        problems.append(f"trained in {result.precision}, asked for {precision}")
    if not result.device.startswith(device.split(":")[0]):
        problems.append(f"trained on {result.device}, asked for {device}")
    if not all(np.isfinite(c).all() for c in [result.curve, result.train_loss]):
        problems.append("a curve or training loss is not finite")
    elif accuracy < ACCURACY_FLOOR:
        problems.append(f"accuracy {accuracy:.3f} < {ACCURACY_FLOOR} after {epochs} epochs")
    if problems:
        return Outcome("FAILED", figure, "; ".join(problems), figures)
    note = "ran the per-fold path: fp16 needs the grad scaler" if expected != path else ""
    return Outcome("ok", figure, note, figures)


# -- the memory estimate ------------------------------------------------------------------------


def memory_check(device: str, cache: DataCache) -> Outcome:
    """training/memory.py's estimate against the measured peak of the same trial (fp32)."""
    spec = study(device, epochs=2, batch=512, space="{width: 1024, depth: 3, batch_size: 512}")
    dataset = cache.get(spec.dataset, spec.primary.builtin.task)
    estimate = trial_bytes(spec, dataset.input_shape, dataset.n_outputs)
    assert estimate is not None  # a built-in family is always estimated
    figures: dict[str, Any] = {"estimate_mb": round(estimate / MB, 1)}
    if not device.startswith("cuda"):
        figure = f"estimate {estimate / MB:.0f} MB"
        return Outcome("skipped", figure, "torch.cuda.max_memory_allocated needs a GPU", figures)
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    cross_validate(
        spec,
        {"lr": 1e-3, "width": 1024, "depth": 3, "batch_size": 512},
        NullReporter(),
        cache=cache,
    )
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - before
    ratio = estimate / max(peak, 1)
    figures.update(peak_mb=round(peak / MB, 1), estimate_over_peak=round(ratio, 2))
    figure = f"estimate {estimate / MB:.0f} MB, peak {peak / MB:.0f} MB ({ratio:.2f}x)"
    # The estimate refuses a trial above FRACTION of the device: it is safe while the peak
    # stays within estimate / FRACTION, and useful while it is not wildly pessimistic.
    if peak > estimate / FRACTION:
        return Outcome(
            "FAILED", figure, f"the peak exceeds estimate / {FRACTION}: an OOM risk", figures
        )
    if ratio > 4:
        return Outcome("FAILED", figure, "the estimate is over 4x the peak", figures)
    return Outcome("ok", figure, "", figures)


# -- speed-up against a plain loop --------------------------------------------------------------


def plain_loop(spec: StudySpec, cache: DataCache, device: str) -> float:
    """What one writes by hand: per fold a scaler, a model, a DataLoader, the usual loop, each
    batch moved to the device. Returns the mean last-epoch validation accuracy."""
    dataset = cache.get(spec.dataset, spec.primary.builtin.task)
    X = dataset.X_train.reshape(len(dataset.X_train), -1)
    final = []
    for fold, (train_rows, val_rows) in enumerate(cv_splits(dataset, spec.dataset)):
        torch.manual_seed(fold)
        scaler = StandardScaler().fit(X[train_rows])
        X_tr = torch.tensor(scaler.transform(X[train_rows]), dtype=torch.float32)
        X_va = torch.tensor(scaler.transform(X[val_rows]), dtype=torch.float32).to(device)
        y_tr = torch.tensor(dataset.y_train[train_rows])
        model = nn.Sequential(
            nn.Linear(X.shape[1], 128),
            nn.ReLU(),
            nn.Linear(128, 128),
            nn.ReLU(),
            nn.Linear(128, dataset.n_outputs),
        ).to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
        loader = DataLoader(TensorDataset(X_tr, y_tr), batch_size=128, shuffle=True)
        for _ in range(spec.trainer.epochs):
            model.train()
            for xb, yb in loader:
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
                loss = nn.functional.cross_entropy(model(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                predicted = model(X_va).argmax(1).cpu().numpy()
            accuracy = float((predicted == dataset.y_train[val_rows]).mean())
        final.append(accuracy)
    return float(np.mean(final))


def timed(fn: Callable[[], float], device: str) -> tuple[float, float]:
    sync(device)
    started = time.perf_counter()
    value = fn()
    sync(device)
    return time.perf_counter() - started, value


def speed_check(device: str, epochs: int, rounds: int, cache: DataCache) -> Outcome:
    """Median seconds of the built-in trial and of the plain loop, 5 folds, MLP 2x128, fp32."""
    spec = study(device, epochs=epochs, folds=5)
    params = {"lr": 1e-3, "width": 128, "depth": 2, "optimizer": "adamw"}
    sides: dict[str, Callable[[], float]] = {
        "built_in": lambda: cross_validate(spec, params, NullReporter(), cache=cache).curve[-1],
        "plain": lambda: plain_loop(spec, cache, device),
    }
    for fn in sides.values():  # first-call costs (CUDA kernels, cuBLAS, scikit-learn), untimed
        fn()
    times: dict[str, list[float]] = {name: [] for name in sides}
    accuracy: dict[str, float] = {}
    for _ in range(rounds):  # interleaved, so that a busy spell hits both sides alike
        for name, fn in sides.items():
            seconds, accuracy[name] = timed(fn, device)
            times[name].append(seconds)
    built_in, plain = (statistics.median(times[n]) for n in ("built_in", "plain"))
    speed_up = plain / built_in
    figures = {
        "built_in_s": round(built_in, 3),
        "plain_s": round(plain, 3),
        "speed_up": round(speed_up, 2),
        "epochs": epochs,
        "folds": 5,
        "rounds": rounds,
        "accuracy_built_in": round(accuracy["built_in"], 4),
        "accuracy_plain": round(accuracy["plain"], 4),
    }
    figure = f"{speed_up:.2f}x ({built_in:.2f} s vs {plain:.2f} s)"
    gap = abs(accuracy["built_in"] - accuracy["plain"])
    if gap > SPEED_ACCURACY_GAP:
        note = f"accuracies differ by {gap:.3f} (built-in {accuracy['built_in']:.3f})"
        return Outcome("FAILED", figure, note, figures)
    return Outcome("ok", figure, "slower than the plain loop" if speed_up < 1 else "", figures)
