"""Reading the trial attributes back safely: the coordinator, status, report, trackers, export.

Whatever is in the storage is untrusted: optuna-dashboard's API (and anyone who can write to
the storage) can set any user attribute to any JSON value. A value of the wrong type or out of
range is logged and treated as absent: it never crashes a reader and never buys a trial
unlimited retries. The names themselves live in :mod:`automl.trial_attrs`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, TypeGuard, TypeVar

from optuna.trial import FrozenTrial, TrialState

from automl.errors import PREEMPTED
from automl.trial_attrs import (
    ATTEMPT,
    BEST_EPOCH,
    CHECKPOINT_EPOCH,
    DURATION_S,
    FAIL_KIND,
    FAIL_REASON,
    HOST,
    PRUNE_REASON,
    PRUNED_AT_EPOCH,
    RESUMED_FROM_EPOCH,
    RETRY_OF,
    SLOT,
    FailKind,
)

__all__ = [
    "ATTEMPT",
    "FAIL_REASON",
    "RETRY_OF",
    "attempt_of",
    "best_epoch_of",
    "checkpoint_epoch_of",
    "duration_s_of",
    "fail_kind_of",
    "fail_reason_of",
    "host_of",
    "lineage_root",
    "note_of",
    "pruned_at_epoch_of",
    "resumed_from_epoch_of",
    "slot_of",
    "worker_of",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_LINE = 500  # a reason, host or slot longer than this is cut: it goes into tables and tags
MAX_EPOCH = 100_000  # the most epochs a study file allows (trainer.epochs); export trains this long


def attempt_of(trial: FrozenTrial) -> int:
    """The trial's attempt number; 0 when absent or not a whole number >= 0."""
    value = _whole(trial, ATTEMPT)
    return 0 if value is None else value


def lineage_root(trial: FrozenTrial) -> int:
    """The first trial of this trial's lineage: ``retry_of`` when sane, else its own number."""
    value = _whole(trial, RETRY_OF)
    return trial.number if value is None or value > trial.number else value


def fail_reason_of(trial: FrozenTrial, default: str = "unknown") -> str:
    """Why the trial failed, as one line; ``default`` when it does not say (whatever its state)."""
    return _line(trial, FAIL_REASON) or default


# Before fail_kind was written, policy read the reason's words; a trial of that time is read so.
_KIND_BY_REASON = (
    ("interrupted", FailKind.INTERRUPTED),
    ("worker lost", FailKind.LOST),
    ("not started", FailKind.NOT_STARTED),
)


def fail_kind_of(trial: FrozenTrial) -> FailKind | None:
    """The kind of a FAIL trial's failure (None for any other state): its ``fail_kind``, or,
    for a trial written before that attribute, the kind its ``fail_reason`` words."""
    if trial.state != TrialState.FAIL:
        return None
    stored = trial.user_attrs.get(FAIL_KIND)
    if isinstance(stored, str) and stored in {kind.value for kind in FailKind}:
        return FailKind(stored)
    reason = _line(trial, FAIL_REASON) or ""
    if reason == PREEMPTED:
        return FailKind.PREEMPTED
    for words, kind in _KIND_BY_REASON:
        if reason.startswith(words):
            return kind
    return FailKind.ERROR


def note_of(trial: FrozenTrial) -> str:
    """Why the trial ended as it did, as one line: the fail reason of a FAIL trial, the prune
    reason of a PRUNED one, else "". The state decides: a trial that finished while the
    coordinator failed it keeps a stale ``fail_reason`` (see ``search.study.fail_trial``)."""
    if trial.state == TrialState.FAIL:
        return _line(trial, FAIL_REASON) or ""
    if trial.state == TrialState.PRUNED:
        return _line(trial, PRUNE_REASON) or ""
    return ""


def host_of(trial: FrozenTrial) -> str | None:
    """The host that trained the trial; None when not (yet) recorded."""
    return _line(trial, HOST)


def slot_of(trial: FrozenTrial) -> str | None:
    """The worker slot that trained the trial ("cpu", "cuda:0", ...); None when not recorded."""
    return _line(trial, SLOT)


def worker_of(trial: FrozenTrial) -> str:
    """Host and slot, as "host slot"; "" when neither is recorded."""
    return " ".join(part for part in (host_of(trial), slot_of(trial)) if part)


def best_epoch_of(trial: FrozenTrial) -> int | None:
    """The 1-based epoch of the trial's best score; None when absent, out of range, or 0 (no
    epoch ran)."""
    return _whole(trial, BEST_EPOCH, most=MAX_EPOCH) or None


def checkpoint_epoch_of(trial: FrozenTrial) -> int | None:
    """The epoch of the trial's latest checkpoint; None when it saved none."""
    return _whole(trial, CHECKPOINT_EPOCH, most=MAX_EPOCH) or None


def resumed_from_epoch_of(trial: FrozenTrial) -> int | None:
    """The epoch after which this trial resumed from a checkpoint; None when it started fresh."""
    return _whole(trial, RESUMED_FROM_EPOCH, most=MAX_EPOCH) or None


def pruned_at_epoch_of(trial: FrozenTrial) -> int | None:
    """The epoch in which a PRUNED trial stopped; None for any other state or when absent."""
    if trial.state != TrialState.PRUNED:
        return None
    return _whole(trial, PRUNED_AT_EPOCH, most=MAX_EPOCH)


def duration_s_of(trial: FrozenTrial) -> float | None:
    """Seconds the worker spent on the trial; None when absent or not a finite number >= 0."""
    value = trial.user_attrs.get(DURATION_S)
    seconds = _as_float(value) if _is_number(value) else None
    if seconds is not None and seconds >= 0:
        return seconds
    if value is not None:
        _ignore(trial, DURATION_S, value, "not a number of seconds")
    return None


def _whole(trial: FrozenTrial, key: str, most: int | None = None) -> int | None:
    """A whole number >= 0 (and <= ``most``); None when absent or anything else."""
    value: Any = trial.user_attrs.get(key)
    if value is None:
        return None
    whole = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if whole and (most is None or value <= most):
        return value
    bound = "" if most is None else f" and <= {most}"
    _ignore(trial, key, value, f"not a whole number >= 0{bound}")
    return None


def _line(trial: FrozenTrial, key: str) -> str | None:
    """A text attribute as one line, cut at MAX_LINE; None when absent, blank or not text."""
    value = trial.user_attrs.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        _ignore(trial, key, value, "not text")
        return None
    return " ".join(value.split())[:MAX_LINE] or None


def _read(trial: FrozenTrial, key: str, parse: Callable[[Any], T | None], what: str) -> T | None:
    """The attribute through ``parse``; None when absent, or (with a warning) when it fails."""
    value = trial.user_attrs.get(key)
    if value is None:
        return None
    parsed = parse(value)
    if parsed is None:
        _ignore(trial, key, value, f"not {what}")
    return parsed


def _ignore(trial: FrozenTrial, key: str, value: Any, why: str) -> None:
    log.warning("trial %d: ignoring its %s attribute %.40r (%s)", trial.number, key, value, why)


def _as_float(value: int | float) -> float | None:
    """``value`` as a float; None when it is not finite (or an integer too big for a float)."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
