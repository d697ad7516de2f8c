"""Feature rows for a trained model from a new file: the same columns, codes and shape.

``automl predict`` reads a CSV or NPZ that was not part of the study. CSV columns are matched
by name to the training features and categorical cells are coded with the *training*
vocabulary (a label never seen in training becomes missing, which the preprocessing imputes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from automl.errors import DataError
from automl.training.table import as_codes, as_labels, as_numbers, read_rows


def read_inputs(
    path: Path,
    feature_names: Sequence[str],
    categorical: Mapping[int, Sequence[str]],
    input_ndim: int,
    target: str | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(X, y)`` from a CSV or NPZ file; ``y`` is None when the file has no labels."""
    if not path.is_file():
        raise DataError(f"DATA: {str(path)!r} does not exist")
    if path.suffix.lower() == ".npz":
        return _read_npz(path, input_ndim)
    if path.suffix.lower() == ".csv":
        return _read_csv(path, feature_names, categorical, target)
    raise DataError(f"DATA: {str(path)!r} must be a .csv or .npz file")


def _read_npz(path: Path, input_ndim: int) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "X" not in archive.files:
                raise DataError(
                    f"DATA: {path} has no array 'X' (it holds "
                    f"{', '.join(archive.files) or 'nothing'})"
                )
            X = archive["X"].astype(np.float32)
            y = archive["y"] if "y" in archive.files else None
    except (OSError, ValueError) as exc:
        raise DataError(f"DATA: cannot read {path}: {exc}") from None
    if X.ndim == input_ndim:  # N x H x W for a model trained on N x 1 x H x W
        X = X[:, None]
    return X, y


def _read_csv(
    path: Path,
    feature_names: Sequence[str],
    categorical: Mapping[int, Sequence[str]],
    target: str | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    header, body = read_rows(path, "DATA")
    absent = [name for name in feature_names if name not in header]
    if absent:
        raise DataError(f"DATA: {path} lacks the feature column(s) {', '.join(absent)}")
    columns = {name: [r[i] if i < len(r) else "" for r in body] for i, name in enumerate(header)}
    features = []
    for index, name in enumerate(feature_names):
        if index in categorical:
            features.append(as_codes(columns[name], categorical[index]))
            continue
        numbers = as_numbers(columns[name])
        if numbers is None:
            raise DataError(
                f"DATA: column {name!r} of {path} must be numeric, as it was in training"
            )
        features.append(numbers)
    X = (
        np.stack(features, axis=1).astype(np.float32)
        if features
        else np.empty((len(body), 0), np.float32)
    )
    y = as_labels(columns[target]) if target and target in columns else None
    return X, y
