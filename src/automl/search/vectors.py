"""The vectors of a study with several objectives, read back safely from a trial.

Optuna refuses ``Trial.report`` on such a study, so the worker keeps every objective's value per
epoch in the user attribute ``intermediate_values`` (``{str(epoch): {name: value}}``, keyed as
Optuna keys its steps) and the final values of a complete trial, or the last vector of a pruned
one, in ``metrics``
(:mod:`automl.trial_attrs`). As :mod:`automl.search.attrs` does for the other attributes, a
malformed value is logged and treated as absent. The pruners, the report and the trackers read
them here.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from optuna.trial import FrozenTrial

from automl.trial_attrs import INTERMEDIATE_VALUES, METRICS

log = logging.getLogger(__name__)


def epoch_vectors_of(trial: FrozenTrial) -> dict[int, dict[str, float | None]]:
    """``intermediate_values`` as epoch -> {objective name: value} (None: not finite), epochs in
    order; {} when absent or malformed. (Your own code's steps are its epochs here.)"""
    raw = trial.user_attrs.get(INTERMEDIATE_VALUES)
    if raw is None:
        return {}
    out: dict[int, dict[str, float | None]] = {}
    ok = isinstance(raw, dict)
    for epoch, vector in raw.items() if ok else ():
        parsed = _as_vector(vector)
        if not (isinstance(epoch, str) and epoch.lstrip("-").isdigit()) or parsed is None:
            ok = False
            break
        out[int(epoch)] = parsed
    if not ok:
        log.warning(
            "trial %d: ignoring its %s attribute (not epochs of named numbers)",
            trial.number,
            INTERMEDIATE_VALUES,
        )
        return {}
    return dict(sorted(out.items()))


def metrics_of(trial: FrozenTrial) -> dict[str, float | None]:
    """``metrics``: the final values by name (a pruned trial: its last epoch); {} when absent."""
    raw = trial.user_attrs.get(METRICS)
    if raw is None:
        return {}
    parsed = _as_vector(raw)
    if parsed is None:
        log.warning(
            "trial %d: ignoring its %s attribute (not named numbers)", trial.number, METRICS
        )
    return parsed or {}


def _as_vector(value: Any) -> dict[str, float | None] | None:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        return None
    out: dict[str, float | None] = {}
    for name, v in value.items():
        if v is None:
            out[name] = None
        elif isinstance(v, int | float) and not isinstance(v, bool):
            try:
                number = float(v)
            except OverflowError:
                number = math.inf
            out[name] = number if math.isfinite(number) else None
        else:
            return None
    return out
