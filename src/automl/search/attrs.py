"""The trial attributes the coordinator reads back, and reading them safely.

Whatever is in the storage is untrusted: optuna-dashboard's API (and anyone who can write to
the storage) can set any user attribute to any JSON value. A value of the wrong type or out of
range is logged and treated as absent: it never crashes the coordinator and never buys a
trial unlimited retries.
"""

from __future__ import annotations

import logging
from typing import Any

from optuna.trial import FrozenTrial

log = logging.getLogger(__name__)

ATTEMPT = "attempt"  # how many times this lineage has run before (0 for a fresh trial)
RETRY_OF = "retry_of"  # the number of the first trial of the lineage
FAIL_REASON = "fail_reason"  # one line: why the trial failed


def attempt_of(trial: FrozenTrial) -> int:
    """The trial's attempt number; 0 when absent or not a whole number >= 0."""
    value = _whole(trial, ATTEMPT)
    return 0 if value is None else value


def lineage_root(trial: FrozenTrial) -> int:
    """The first trial of this trial's lineage: ``retry_of`` when sane, else its own number."""
    value = _whole(trial, RETRY_OF)
    return trial.number if value is None or value > trial.number else value


def fail_reason_of(trial: FrozenTrial, default: str = "unknown") -> str:
    value = trial.user_attrs.get(FAIL_REASON)
    if value is None:
        return default
    return " ".join(str(value).split())[:500]


def _whole(trial: FrozenTrial, key: str) -> int | None:
    value: Any = trial.user_attrs.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    log.warning("trial %d: ignoring its %s attribute %.40r (not a whole number >= 0)", trial.number, key, value)
    return None
