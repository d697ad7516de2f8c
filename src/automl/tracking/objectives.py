"""Several objectives, as the trackers log them: each objective's value per step.

Optuna refuses ``Trial.report`` on a study with several objectives, so the worker keeps every
objective's value per step in the trial's user attribute ``intermediate_values``
(``{str(step): {name: value}}``), read back by :mod:`automl.search.vectors`.
"""

from __future__ import annotations

import logging

from optuna.trial import FrozenTrial

from automl.search.vectors import step_vectors_of

log = logging.getLogger(__name__)


def objective_steps_of(trial: FrozenTrial, names: list[str]) -> dict[str, dict[int, float | None]]:
    """Objective name -> step -> value (None: missing or not finite), steps in order, for the
    objectives in ``names``; {} when the attribute is absent or malformed.

    >>> from optuna.trial import create_trial
    >>> t = create_trial(values=[0.9, 10], user_attrs={"intermediate_values": {"2": {"a": 0.9, "b": 10}, "1": {"a": 0.5}}})
    >>> objective_steps_of(t, ["a", "b"])
    {'a': {1: 0.5, 2: 0.9}, 'b': {2: 10.0}}
    """
    steps = step_vectors_of(trial)
    out: dict[str, dict[int, float | None]] = {}
    for name in names:
        series = {step: vector[name] for step, vector in steps.items() if name in vector}
        if series:
            out[name] = series
    return out
