"""Several objectives, as the trackers log them: each objective's value per epoch.

Optuna refuses ``Trial.report`` on a study with several objectives, so the worker keeps every
objective's value per epoch in the trial's user attribute ``intermediate_values``
(``{str(epoch): {name: value}}``), read back by :mod:`automl.search.vectors`.
"""

from __future__ import annotations

import logging

from optuna.trial import FrozenTrial

from automl.search.vectors import epoch_vectors_of

log = logging.getLogger(__name__)


def objective_epochs_of(trial: FrozenTrial, names: list[str]) -> dict[str, dict[int, float | None]]:
    """Objective name -> epoch -> value (None: missing or not finite), epochs in order, for the
    objectives in ``names``; {} when the attribute is absent or malformed.

    >>> from optuna.trial import create_trial
    >>> epochs = {"2": {"a": 0.9, "b": 10}, "1": {"a": 0.5}}
    >>> t = create_trial(values=[0.9, 10], user_attrs={"intermediate_values": epochs})
    >>> objective_epochs_of(t, ["a", "b"])
    {'a': {1: 0.5, 2: 0.9}, 'b': {2: 10.0}}
    """
    by_epoch = epoch_vectors_of(trial)
    out: dict[str, dict[int, float | None]] = {}
    for name in names:
        series = {epoch: vector[name] for epoch, vector in by_epoch.items() if name in vector}
        if series:
            out[name] = series
    return out
