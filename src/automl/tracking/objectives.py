"""Several objectives, as the trackers log them: each objective's value per step.

Optuna refuses ``Trial.report`` on a study with several objectives, so the worker keeps every
objective's value per step in the trial's user attribute ``intermediate_values``
(``{str(step): {name: value}}``, :mod:`automl.trial_attrs`). A malformed attribute is logged
and treated as absent, as :mod:`automl.search.attrs` does for the others.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from optuna.trial import FrozenTrial

from automl.trial_attrs import INTERMEDIATE_VALUES

log = logging.getLogger(__name__)


def objective_steps_of(trial: FrozenTrial, names: list[str]) -> dict[str, dict[int, float | None]]:
    """Objective name -> step -> value (None: missing or not finite), steps in order, for the
    objectives in ``names``; {} when the attribute is absent or malformed.

    >>> from optuna.trial import create_trial
    >>> t = create_trial(values=[0.9, 10], user_attrs={"intermediate_values": {"2": {"a": 0.9, "b": 10}, "1": {"a": 0.5}}})
    >>> objective_steps_of(t, ["a", "b"])
    {'a': {1: 0.5, 2: 0.9}, 'b': {2: 10.0}}
    """
    raw = trial.user_attrs.get(INTERMEDIATE_VALUES)
    if raw is None:
        return {}
    steps = _parse(raw)
    if steps is None:
        log.warning("trial %d: ignoring its %s attribute (not steps of named numbers)", trial.number, INTERMEDIATE_VALUES)
        return {}
    out: dict[str, dict[int, float | None]] = {}
    for name in names:
        series = {step: vector[name] for step, vector in sorted(steps.items()) if name in vector}
        if series:
            out[name] = series
    return out


def _parse(raw: Any) -> dict[int, dict[str, float | None]] | None:
    if not isinstance(raw, dict):
        return None
    out: dict[int, dict[str, float | None]] = {}
    for step, vector in raw.items():
        if not (isinstance(step, str) and step.lstrip("-").isdigit()) or not isinstance(vector, dict):
            return None
        parsed: dict[str, float | None] = {}
        for name, value in vector.items():
            if not isinstance(name, str) or not (value is None or (isinstance(value, int | float) and not isinstance(value, bool))):
                return None
            parsed[name] = _finite(value)
        out[int(step)] = parsed
    return out


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
