"""CSV cells as numbers, labels and category codes: one reading for training and predict.

Both the training data (:mod:`automl.training.sources`) and ``automl predict``'s input
(:mod:`automl.artifacts.inputs`) read CSV files here, so a cell means the same to both: the
same missing markers, the same numbers, the same category codes.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from automl.errors import DataError

# Cells that mean "no value" (compared stripped and lower-cased).
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})


def read_rows(path: Path, field: str) -> tuple[list[str], list[list[str]]]:
    """The header (stripped names) and the data rows that hold anything; errors name ``field``."""
    where = str(path.resolve())
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{field}: cannot read {where}: {exc}") from None
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    if not rows or not body:
        raise DataError(f"{field}: {where} needs a header row and at least one data row")
    return [h.strip() for h in rows[0]], body


def is_missing(cell: str) -> bool:
    return cell.strip().lower() in MISSING


def as_numbers(cells: Sequence[str]) -> np.ndarray | None:
    """Float64 values (NaN where missing), or None when any cell is not a number.

    >>> as_numbers(["1", " 2.5", "NA"]).tolist()[:2], as_numbers(["1", "x"])
    ([1.0, 2.5], None)
    """
    out = np.empty(len(cells), dtype=np.float64)
    for i, cell in enumerate(cells):
        if is_missing(cell):
            out[i] = np.nan
            continue
        try:
            out[i] = float(cell.strip())
        except ValueError:
            return None
    return out


def as_labels(cells: Sequence[str]) -> np.ndarray:
    """Target cells as stripped strings, None where missing (an object array)."""
    return np.array([None if is_missing(c) else c.strip() for c in cells], dtype=object)


def distinct_labels(cells: Sequence[str]) -> tuple[str, ...]:
    """The sorted distinct values of a text column: its category vocabulary."""
    return tuple(sorted({c.strip() for c in cells if not is_missing(c)}))


def as_codes(cells: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Category codes 0..m-1 in the order of ``labels``; NaN for a missing or unseen label."""
    code = {label: float(j) for j, label in enumerate(labels)}
    return np.array([code.get(c.strip(), np.nan) for c in cells], dtype=np.float64)
