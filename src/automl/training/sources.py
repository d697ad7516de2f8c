"""Read the raw arrays behind ``data.source``: scikit-learn, CSV, NPZ or a user function.

Each reader returns a :class:`RawData`: features as float32 (NaN where a value is missing,
categorical columns as integer codes), the target as it came, and the column facts that
preprocessing needs. Nothing here splits, scales or infers the task; :mod:`.data` does.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from automl.errors import DataError
from automl.studyfile import DataSpec
from automl.training.table import (
    as_codes,
    as_labels,
    as_numbers,
    distinct_labels,
    read_rows,
)

# Cells that mean "no value" in a CSV file (compared lower-cased, stripped).


@dataclass
class RawData:
    X: np.ndarray  # float32, N x d (tabular) or N x C x H x W (images)
    y: np.ndarray  # as read: numbers, strings or objects; NaN / None where missing
    feature_names: list[str]
    # column index -> category labels, for CSV columns that are not numbers
    categorical: dict[int, tuple[str, ...]] = field(default_factory=dict)
    where: str = ""  # how error messages name the data ("/path/x.csv", "sklearn:digits")


def read_source(data: DataSpec) -> RawData:
    """Dispatch on the ``kind:`` prefix of ``data.source``."""
    kind, _, rest = data.source.partition(":")
    if kind == "sklearn":
        return _read_sklearn(rest, dict(data.options))
    if kind == "csv":
        return _read_csv(_existing(rest), str(data.target), tuple(data.drop))
    if kind == "npz":
        return _read_npz(_existing(rest))
    if kind == "python":
        return _read_python(rest)
    raise DataError(f"data.source: unknown kind {kind!r}; use sklearn:, csv:, npz: or python:")


def _existing(path_text: str) -> Path:
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise DataError(f"data.source: file not found: {path.resolve()}")
    return path


def _read_sklearn(name: str, options: dict[str, Any]) -> RawData:
    from sklearn import datasets

    where = f"sklearn:{name}"
    if name.startswith("make_"):
        maker: Callable[..., Any] = getattr(datasets, name)
        options.setdefault("random_state", 0)  # the same data set in every worker
        try:
            X, y = maker(**options)
        except (TypeError, ValueError) as exc:
            raise DataError(f"data.options: {name} rejected the options: {exc}") from None
        names = [f"x{i}" for i in range(X.shape[1])]
        return RawData(X.astype(np.float32), y, names, where=where)
    loaded = getattr(datasets, f"load_{name}")()
    X = np.asarray(loaded.data, dtype=np.float32)
    names = [str(n) for n in getattr(loaded, "feature_names", [])] or [
        f"x{i}" for i in range(X.shape[1])
    ]
    if name == "digits":  # 8x8 grey images: keep the shape so that `cnn` can use it
        X = X.reshape(-1, 1, 8, 8)
    return RawData(X, np.asarray(loaded.target), names, where=where)


# A text column with this many distinct values (and one per ten rows or more) is an id, a date
# or free text: one-hot encoded it would be a dense rows x values matrix per fold.
MAX_TEXT_VALUES = 100


def _read_csv(path: Path, target: str, drop: tuple[str, ...] = ()) -> RawData:
    where = str(path.resolve())
    header, body = read_rows(path, "data.source")
    if target not in header:
        raise DataError(
            f"data.target: column {target!r} is not in {where}; columns are: {', '.join(header)}"
        )
    unknown = [name for name in drop if name not in header]
    if unknown:
        raise DataError(
            f"data.drop: column {unknown[0]!r} is not in {where}; columns are: {', '.join(header)}"
        )
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError(
                f"data.source: {where} row {number} has {len(row)} cells, the header has "
                f"{len(header)}"
            )
    columns = list(zip(*body, strict=False))
    t = header.index(target)
    y = as_labels(columns[t])
    names: list[str] = []
    features: list[np.ndarray] = []
    categorical: dict[int, tuple[str, ...]] = {}
    for i, (name, cells) in enumerate(zip(header, columns, strict=False)):
        if i == t or name in drop:
            continue
        numbers = as_numbers(cells)
        if numbers is None:  # not all numbers: a categorical column, coded 0..m-1
            labels = distinct_labels(cells)
            if len(labels) > MAX_TEXT_VALUES and len(labels) * 10 > len(cells):
                raise DataError(
                    f"data.source: column {name!r} of {where} is text with "
                    f"{len(labels):,} distinct values in "
                    f"{len(cells):,} rows (an id, a date or free text?): one-hot "
                    "encoding makes a column per value, which rarely helps and may not "
                    "fit in memory. "
                    f"Leave it out with data.drop: [{name}]"
                )
            numbers = as_codes(cells, labels)
            categorical[len(names)] = labels
        names.append(name)
        features.append(numbers)
    if not features:
        raise DataError(f"data.source: {where} has no feature columns besides {target!r}")
    X = np.stack(features, axis=1).astype(np.float32)
    return RawData(X, y, names, categorical, where=where)


def _read_npz(path: Path) -> RawData:
    where = str(path.resolve())
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in ("X", "y") if k not in archive.files]
            if missing:
                raise DataError(
                    f"data.source: {where} has no array {missing[0]!r}; it holds: "
                    f"{', '.join(archive.files) or 'nothing'} (save with np.savez(path, "
                    "X=..., y=...))"
                )
            X, y = archive["X"], archive["y"]
    except (OSError, ValueError) as exc:
        raise DataError(f"data.source: cannot read {where}: {exc}") from None
    return _from_arrays(X, y, where)


def _read_python(ref: str) -> RawData:
    module_name, _, func_name = ref.rpartition(":")
    where = f"python:{ref}"
    try:
        func = load_callable(module_name, func_name)
    except LookupError as exc:
        raise DataError(f"data.source: {exc}") from None
    try:
        result = func()
    except Exception as exc:  # the user's code: report whatever it raised, in one line
        raise DataError(f"data.source: {where} raised {type(exc).__name__}: {exc}") from exc
    if not (isinstance(result, tuple) and len(result) == 2):
        raise DataError(
            f"data.source: {where} must return a tuple (X, y), got {type(result).__name__}"
        )
    return _from_arrays(np.asarray(result[0]), np.asarray(result[1]), where)


def _from_arrays(X: np.ndarray, y: np.ndarray, where: str) -> RawData:
    if X.ndim not in (2, 3, 4):
        raise DataError(
            f"data.source: X in {where} has shape {X.shape}; use N x features, N x H x W "
            "or N x C x H x W"
        )
    if y.ndim != 1 or len(y) != len(X):
        raise DataError(
            f"data.source: y in {where} must be 1-D with one value per row of X "
            f"(X has {len(X)} rows, y has shape {y.shape})"
        )
    try:
        X = X.astype(np.float32)
    except (TypeError, ValueError):
        raise DataError(f"data.source: X in {where} must be numeric, got dtype {X.dtype}") from None
    if X.ndim == 3:  # N x H x W: one channel
        X = X[:, None]
    names = [f"x{i}" for i in range(int(np.prod(X.shape[1:])))]
    return RawData(X, y, names, where=where)


def load_callable(module_name: str, attr: str) -> Callable[..., Any]:
    """Import exactly ``module_name`` and return its ``attr``.

    Raises ``LookupError`` with a one-line reason; callers prefix the study-file field.
    """
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LookupError(f"cannot import module {module_name!r}: {exc}") from None
    func = getattr(module, attr, None)
    if not callable(func):
        raise LookupError(f"module {module_name!r} has no function {attr!r}")
    return func  # type: ignore[no-any-return]
