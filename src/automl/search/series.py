"""The series a trial recorded, read back safely: fold scores, the curve per epoch, the
training loss, the curves per fold, your own code's metrics and the gradient-health record.

Each is checked as :mod:`automl.search.attrs` checks every attribute: a value of the wrong
shape is logged and treated as absent. Non-finite numbers are stored as None and read as None.
"""

from __future__ import annotations

from typing import Any

from optuna.trial import FrozenTrial

from automl.search.attrs import _as_float, _is_number, _read
from automl.trial_attrs import CURVE, FOLD_CURVES, FOLD_SCORES, HEALTH, TRAIN_LOSS, USER_METRICS

# The parts of HealthLog.summary (training/health.py) the figures and trackers read.
_HEALTH_TABLES = ("grad_norm", "weight_norm", "update_ratio")  # [epoch][group]


_HEALTH_SERIES = ("max_grad_norm",)  # [epoch]


def fold_scores_of(trial: FrozenTrial) -> list[float | None]:
    """The score of each fold at the best epoch (None: not finite); [] when absent."""
    return _read(trial, FOLD_SCORES, _as_series, "a list of numbers") or []


def curve_of(trial: FrozenTrial) -> list[float | None]:
    """The fold-mean score per epoch, epoch 1 first (None: not finite); [] when absent."""
    return _read(trial, CURVE, _as_series, "a list of numbers") or []


def train_loss_of(trial: FrozenTrial) -> list[float | None]:
    """The fold-mean training loss per epoch (None: not finite); [] when absent."""
    return _read(trial, TRAIN_LOSS, _as_series, "a list of numbers") or []


def fold_curves_of(trial: FrozenTrial) -> list[list[float | None]]:
    """The score per fold, then per epoch (None: not finite); [] when absent."""
    return _read(trial, FOLD_CURVES, _as_table, "a list of lists of numbers") or []


def user_metrics_of(trial: FrozenTrial) -> dict[str, list[float | None]]:
    """What your own training code logged (``TrialContext.log``): name -> value per report."""
    return (
        _read(trial, USER_METRICS, _as_named_series, "a mapping of names to series of numbers")
        or {}
    )


def _as_named_series(value: Any) -> dict[str, list[float | None]] | None:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        return None
    out = {k: _as_series(v) for k, v in value.items()}
    return None if any(v is None for v in out.values()) else out  # type: ignore[return-value]


def health_of(trial: FrozenTrial) -> dict[str, Any]:
    """The gradient-health record (``groups``, the per-epoch tables, ``max_grad_norm``) as
    HealthLog.summary writes it; {} when absent or when any part of it is malformed."""
    return _read(trial, HEALTH, _as_health, "a health record") or {}


def _as_series(value: Any) -> list[float | None] | None:
    """A list of numbers, with the non-finite ones as None (as training writes them)."""
    if not isinstance(value, list) or not all(v is None or _is_number(v) for v in value):
        return None
    return [None if v is None else _as_float(v) for v in value]


def _as_table(value: Any) -> list[list[float | None]] | None:
    """A list of lists of numbers: [fold][epoch] or [epoch][group]."""
    if not isinstance(value, list):
        return None
    rows = []
    for row in value:
        series = _as_series(row)
        if series is None:
            return None
        rows.append(series)
    return rows


def _as_health(value: Any) -> dict[str, Any] | None:
    """The parts of a health record that readers use, each checked; the rest is dropped."""
    if not isinstance(value, dict):
        return None
    out: dict[str, Any] = {}
    groups = value.get("groups")
    if groups is not None:
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            return None
        out["groups"] = list(groups)
    for key in _HEALTH_TABLES + _HEALTH_SERIES:
        if value.get(key) is None:
            continue
        part = _as_table(value[key]) if key in _HEALTH_TABLES else _as_series(value[key])
        if part is None:
            return None
        out[key] = part
    return out
