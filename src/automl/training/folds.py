"""Cross-validation folds: the scikit-learn splits, preprocessed inside each fold, as tensors.

Each :class:`Fold` holds its training and validation rows already on the training device, so
that an epoch is a loop of index lookups (``torch.randperm``), never a per-sample DataLoader.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold

from automl.errors import DataError
from automl.studyfile import DataSpec, Task
from automl.training.data import Dataset
from automl.training.preprocess import Preprocessor


@dataclass
class Fold:
    """One fold's rows, preprocessed with statistics of its own training rows only."""

    X_train: torch.Tensor  # (n, *input_shape), float32, on the device
    y_train: torch.Tensor  # int64 class indices or float32 targets in standard units
    X_val: torch.Tensor
    y_val: np.ndarray  # what metrics compare against: class indices or raw target values
    preprocessor: Preprocessor

    @property
    def n_train(self) -> int:
        return len(self.X_train)


def cv_splits(dataset: Dataset, data: DataSpec) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, validation rows) per fold and repeat, over ``dataset.X_train``.

    Stratified k-fold for classification when ``data.cv.stratified``, plain k-fold otherwise;
    ``data.cv.repeats`` times, each repeat shuffled anew, all seeded with ``data.cv.seed`` so
    that every trial of a study sees the same folds. With one repeat these are exactly the
    folds of a shuffled ``StratifiedKFold`` / ``KFold``.
    """
    cv = data.cv
    stratified = dataset.task == Task.CLASSIFICATION and cv.stratified
    splitter = (RepeatedStratifiedKFold if stratified else RepeatedKFold)(
        n_splits=cv.folds, n_repeats=cv.repeats, random_state=cv.seed
    )
    rows = np.zeros(len(dataset.y_train))
    if cv.folds > len(rows):
        raise DataError(
            f"data.cv.folds: {cv.folds} folds need at least {cv.folds} training rows, "
            f"but {dataset.source} has {len(rows)} after the test split"
        )
    return [(tr, va) for tr, va in splitter.split(rows, dataset.y_train if stratified else None)]


def make_preprocessor(dataset: Dataset, data: DataSpec) -> Preprocessor:
    """An unfitted :class:`Preprocessor` for this data set and ``data.preprocess``."""
    return Preprocessor(
        data.preprocess, dataset.task, dataset.input_shape, dataset.categorical,
        impute=dataset.has_missing or bool(dataset.categorical),
    )  # fmt: skip


def prepare_folds(dataset: Dataset, data: DataSpec, device: torch.device) -> list[Fold]:
    """Split, fit one preprocessor per training fold, and move every fold to ``device``."""
    folds = []
    for train_rows, val_rows in cv_splits(dataset, data):
        X_tr, y_tr = dataset.X_train[train_rows], dataset.y_train[train_rows]
        X_va, y_va = dataset.X_train[val_rows], dataset.y_train[val_rows]
        pre = make_preprocessor(dataset, data).fit(X_tr, y_tr)  # training rows only
        folds.append(
            Fold(
                X_train=torch.from_numpy(pre.transform(X_tr)).to(device),
                y_train=torch.from_numpy(pre.transform_target(y_tr)).to(device),
                X_val=torch.from_numpy(pre.transform(X_va)).to(device),
                y_val=y_va,
                preprocessor=pre,
            )
        )
    return folds


def whole_training_fold(dataset: Dataset, data: DataSpec, device: torch.device) -> Fold:
    """All training rows as one "fold", validated on the held-out test rows (export only)."""
    pre = make_preprocessor(dataset, data).fit(dataset.X_train, dataset.y_train)
    return Fold(
        X_train=torch.from_numpy(pre.transform(dataset.X_train)).to(device),
        y_train=torch.from_numpy(pre.transform_target(dataset.y_train)).to(device),
        X_val=torch.from_numpy(pre.transform(dataset.X_test)).to(device),
        y_val=dataset.y_test,
        preprocessor=pre,
    )


def batch_plan(n_train: list[int], batch_size: int) -> tuple[int, int]:
    """(steps per epoch, largest batch) shared by all folds.

    Every fold takes the same number of optimiser steps, so schedules line up and the folds
    can run as one batched computation; fold f's batch j is ``perm_f[j::steps]``, which never
    leaves a fold an empty or a one-row last batch.
    """
    steps = max(1, -(-min(n_train) // batch_size))
    return steps, -(-max(n_train) // steps)


def fold_generators(seed: int, n_folds: int) -> list[torch.Generator]:
    """One CPU generator per fold for shuffling, so fold f shuffles the same on every path."""
    return [torch.Generator().manual_seed(seed * 7919 + 104729 * (f + 1)) for f in range(n_folds)]
