"""A loaded data set: the training rows that cross-validation sees and the held-out test rows.

:func:`load_dataset` reads ``data.source`` (see :mod:`.sources`), checks the target, infers the
task when the study file leaves it out, and sets the test split aside (stratified for
classification, seeded by ``data.cv.seed``). Only :func:`automl.training.fit_final` (export)
ever touches ``X_test``. :class:`DataCache` keeps loaded data sets for the life of a process, so
a worker that runs many trials of one study reads its data once.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from automl.errors import DataError
from automl.studyfile import DataSpec, Task
from automl.training.sources import RawData, read_source
from automl.training.table import MISSING

# A numeric target with at most this many distinct whole values is read as class labels.
MAX_INFERRED_CLASSES = 20


@dataclass(frozen=True)
class Dataset:
    """Features and target, split into training rows (for CV) and held-out test rows.

    ``X_*`` are float32, N x d or N x C x H x W, NaN where a value is missing; categorical
    columns hold integer codes into ``categorical[column]``. ``y_*`` are int64 class indices
    into ``classes`` for classification, float32 values for regression. ``input_shape`` is what
    the model sees after preprocessing (one-hot columns included).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: Task
    classes: tuple[Any, ...]
    input_shape: tuple[int, ...]
    feature_names: tuple[str, ...]
    categorical: dict[int, tuple[str, ...]] = field(default_factory=dict)
    source: str = ""

    @property
    def n_classes(self) -> int:
        """Number of classes; 0 for regression."""
        return len(self.classes)

    @property
    def n_outputs(self) -> int:
        """Width of the model's output layer: one logit per class, or one value."""
        return self.n_classes if self.task == Task.CLASSIFICATION else 1

    @property
    def has_missing(self) -> bool:
        return bool(np.isnan(self.X_train).any() or np.isnan(self.X_test).any())


def load_dataset(data: DataSpec, task: Task | None = None) -> Dataset:
    """Load ``data.source`` and set the test split aside.

    ``task`` (usually the objective metric's task) wins over ``data.task``; when both are None
    the task is inferred: non-numeric or few distinct whole-number targets mean classification.

    >>> from automl.studyfile import DataSpec
    >>> ds = load_dataset(DataSpec(source="sklearn:iris"))
    >>> ds.task.value, ds.n_classes, ds.input_shape, len(ds.X_train) + len(ds.X_test)
    ('classification', 3, (4,), 150)
    """
    raw = read_source(data)
    if not np.isfinite(np.nan_to_num(raw.X, nan=0.0)).all():
        raise DataError(f"data.source: the features of {raw.where} contain infinite values")
    target = _target_name(data, raw)
    missing = _missing_mask(raw.y)
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        raise DataError(
            f"data.target: {int(missing.sum())} rows of {raw.where} have no {target} value "
            f"(first at row {first}); drop those rows or fill them in"
        )
    task = task or data.task or infer_task(raw.y)
    if task == Task.CLASSIFICATION:
        y, classes = _encode_classes(raw, data, target)
    else:
        y, classes = _regression_target(raw, target), ()
    stratify = y if task == Task.CLASSIFICATION else None
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            raw.X, y, test_size=data.test_size, random_state=data.cv.seed, stratify=stratify
        )
    except ValueError as exc:
        raise DataError(
            f"data.test_size: cannot hold out {data.test_size} of {raw.where}: {exc}"
        ) from None
    if task == Task.CLASSIFICATION:
        _check_class_counts(y_train, classes, data, "in the training split (after the test split)")
    return Dataset(
        X_train=np.ascontiguousarray(X_train), y_train=y_train,
        X_test=np.ascontiguousarray(X_test), y_test=y_test,
        task=task, classes=classes, input_shape=_input_shape(raw),
        feature_names=tuple(raw.feature_names), categorical=dict(raw.categorical),
        source=raw.where,
    )  # fmt: skip


def infer_task(y: np.ndarray) -> Task:
    """Classification for labels (text, bools, few distinct whole numbers), else regression."""
    values = _as_float(y)
    if values is None or y.dtype == bool:
        return Task.CLASSIFICATION
    distinct = np.unique(values)
    whole = bool(np.all(distinct == np.round(distinct)))
    return (
        Task.CLASSIFICATION if whole and len(distinct) <= MAX_INFERRED_CLASSES else Task.REGRESSION
    )


def _target_name(data: DataSpec, raw: RawData) -> str:
    return f"column {data.target!r}" if data.target else f"target (y of {raw.where})"


def _missing_mask(y: np.ndarray) -> np.ndarray:
    if y.dtype.kind == "f":
        return np.isnan(y)
    if y.dtype.kind == "O":
        return np.array(
            [v is None or (isinstance(v, float) and math.isnan(v))
             or (isinstance(v, str) and v.strip().lower() in MISSING) for v in y],
            dtype=bool,
        )  # fmt: skip
    return np.zeros(len(y), dtype=bool)


def _as_float(y: np.ndarray) -> np.ndarray | None:
    try:
        return np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _encode_classes(
    raw: RawData, data: DataSpec, target: str
) -> tuple[np.ndarray, tuple[Any, ...]]:
    numbers = _as_float(raw.y)
    if numbers is not None and raw.y.dtype != bool:
        labels, y = np.unique(numbers, return_inverse=True)
        whole = bool(np.all(labels == np.round(labels)))
        classes: tuple[Any, ...] = tuple(int(v) if whole else float(v) for v in labels)
    else:
        labels, y = np.unique(raw.y.astype(str), return_inverse=True)
        classes = tuple(str(v) for v in labels)
    if len(classes) < 2:
        raise DataError(
            f"data.target: {target} holds only one class ({classes[0]!r}); classification needs at "
            "least two (or set data.task: regression for a numeric target)"
        )
    y = y.astype(np.int64)
    _check_class_counts(y, classes, data, "")
    return y, classes


def _check_class_counts(
    y: np.ndarray, classes: tuple[Any, ...], data: DataSpec, where: str
) -> None:
    counts = np.bincount(y, minlength=len(classes))
    folds = data.cv.folds
    for label, count in zip(classes, counts, strict=False):
        if count < folds:
            raise DataError(
                f"data.cv.folds: class {label!r} has only {count} "
                f"rows{' ' + where if where else ''}, "
                f"fewer than the {folds} folds; lower data.cv.folds (or data.test_size) or add rows"
            )


def _regression_target(raw: RawData, target: str) -> np.ndarray:
    values = _as_float(raw.y)
    if values is None:
        example = next(v for v in raw.y if _as_float(np.array([v])) is None)
        raise DataError(
            f"data.target: {target} has non-numeric values (e.g. {example!r}) but the task is "
            "regression; set data.task: classification or fix the column"
        )
    return values.astype(np.float32)


def _input_shape(raw: RawData) -> tuple[int, ...]:
    if raw.X.ndim == 4:
        return tuple(int(n) for n in raw.X.shape[1:])
    one_hot = sum(len(labels) for labels in raw.categorical.values())
    return (raw.X.shape[1] - len(raw.categorical) + one_hot,)


class DataCache:
    """Loaded data sets of this process, keyed by the data spec (and the file's mtime and size).

    Not thread-safe: one worker process runs one trial at a time. Keeps the ``max_entries``
    most recently used data sets.

    >>> from automl.studyfile import DataSpec
    >>> cache = DataCache()
    >>> cache.get(DataSpec(source="sklearn:iris")) is cache.get(DataSpec(source="sklearn:iris"))
    True
    """

    def __init__(self, max_entries: int = 4) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[Any, ...], Dataset] = OrderedDict()
        self._folds: dict[tuple[Any, ...], Any] = {}  # folds of a cached data set, by device

    def folds(self, data: DataSpec, task: Task | None, device: Any, build: Any) -> Any:
        """``build(dataset)`` (the data set's preprocessed folds) once per data set and device.

        A study's folds depend on the data, its ``cv`` and ``preprocess`` settings only, never on
        a trial's params, and the trainer only reads them: a worker splits and fits them once
        rather than for every trial (tens of ms each on a small table).
        """
        dataset = self.get(data, task)
        key = (id(dataset), str(device))
        if key not in self._folds:
            live = {id(d) for d in self._entries.values()}
            # evicted data sets
            self._folds = {k: v for k, v in self._folds.items() if k[0] in live}
            self._folds[key] = build(dataset)
        return self._folds[key]

    def get(self, data: DataSpec, task: Task | None = None) -> Dataset:
        key = (data.model_dump_json(), task, _file_stamp(data.source))
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        dataset = load_dataset(data, task)
        self._entries[key] = dataset
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return dataset

    def clear(self) -> None:
        self._entries.clear()
        self._folds.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _file_stamp(source: str) -> tuple[float, int] | None:
    kind, _, rest = source.partition(":")
    if kind not in ("csv", "npz"):
        return None
    try:
        stat = Path(rest).expanduser().stat()
    except OSError:
        return None
    return (stat.st_mtime, stat.st_size)
