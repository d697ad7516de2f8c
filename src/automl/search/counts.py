"""What ``automl status`` reads from an RDB storage, asked of the database, not of every trial.

``automl status`` must answer in seconds on a study of 100,000 trials. Optuna's cache in
front of an RDB storage reads *every* trial whole (params, values, attributes) on the first
``get_trials``, whatever states are asked for: 3.4 minutes and 5.9 GB for 100,000 trials of
automl's attributes (BENCHMARKS.md). So status asks the database: the counts by state with
one ``GROUP BY``, the running trials with a query filtered by state, the failed trials'
reasons with one join, and (only for the Pareto front, or when the best value is infeasible)
the values and constraints of the trials as :class:`Row` objects, not whole trials.

The queries read Optuna's tables, and :func:`front_rows` uses Optuna's own Pareto rule; none
is public API, so both live in :mod:`automl.search.internals` (``rdb_queries``,
``pareto_front``), guarded there. tests/search/test_counts.py and test_status_read.py check
each answer against the plain Optuna read on every storage.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar, cast

import optuna
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from automl.search.internals import (
    count_states_rdb,
    fail_reason_rows_rdb,
    pareto_front,
    rdb_of,
    running_numbers_rdb,
    study_id,
    study_storage,
    tied_trial_ids_rdb,
    top_trial_ids_rdb,
    trial_by_number_rdb,
    trial_id,
    trial_rows_rdb,
    trials_by_id_rdb,
)
from automl.search.retry import retried
from automl.trial_attrs import FAIL_REASON

MISSING = object()  # a failed trial without a fail reason
T = TypeVar("T")


class Row(NamedTuple):
    """One trial as the rules for the best trial and the Pareto front read it."""

    trial_id: int
    number: int
    state: TrialState
    values: list[float] | None
    constraints: dict[str, float]


def counts_by_state(study: optuna.Study) -> dict[str, int]:
    """``{"COMPLETE": n, "PRUNED": n, ...}`` for the states that occur in the study."""
    if rdb_of(study_storage(study)) is None:
        return dict(Counter(t.state.name for t in study.get_trials(deepcopy=False)))
    rows = _query(study, count_states_rdb)
    return {state.name: int(n) for state, n in rows if n}


def trials_in_state(study: optuna.Study, state: TrialState) -> list[FrozenTrial]:
    """The trials in ``state``, by number, filtered by the database on an RDB storage."""
    rdb = rdb_of(study_storage(study))
    if rdb is None:
        return study.get_trials(deepcopy=False, states=(state,))
    found = _query(study, lambda _s, sid: rdb.get_all_trials(sid, deepcopy=False, states=(state,)))
    return sorted(found, key=lambda t: t.number)


def running_numbers(storage: BaseStorage, study_id: int) -> set[int]:
    """The numbers of the study's RUNNING trials. On an RDB storage one query of the numbers
    alone: Optuna's cache would read every unfinished trial whole (params, attributes,
    intermediate values: 15 ms for 8 trials in flight on PostgreSQL, 1.6 s for 1,000), and the
    coordinator asks this every few seconds and on bursts of ended trials."""
    if rdb_of(storage) is None:
        return {
            t.number
            for t in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        }
    return retried(storage, running_numbers_rdb, storage, study_id)


def trials_by_id(storage: BaseStorage, study_id: int, trial_ids: set[int]) -> list[FrozenTrial]:
    """The study's trials ``trial_ids`` as the storage holds them now. On an RDB storage one
    read of them all (two statements however many); elsewhere a read each (a journal
    answers from memory). For the coordinator, which learns of several ended trials at once."""
    if rdb_of(storage) is None or len(trial_ids) < 2:
        return [storage.get_trial(i) for i in sorted(trial_ids)]
    return retried(storage, trials_by_id_rdb, storage, study_id, trial_ids)


def trial_by_number(storage: BaseStorage, study_id: int, number: int) -> FrozenTrial:
    """Trial ``number`` of the study as the storage holds it now; KeyError if there is none.
    On an RDB storage one session of two statements instead of Optuna's two sessions of
    seven: a worker reads the trial it is sent between two trials, while its slot waits."""
    if rdb_of(storage) is None:
        return storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id, number))
    return retried(storage, trial_by_number_rdb, storage, study_id, number)


def first_of_ties(study: optuna.Study, best: FrozenTrial) -> FrozenTrial:
    """``best``, a feasible trial with the study's best value, or the first (lowest number)
    feasible COMPLETE trial with the same value: on an RDB storage Optuna's query leaves a tie
    to the database, so the same study could name a different best from one read to the next.
    Elsewhere Optuna already gives the first."""
    storage = study_storage(study)
    if rdb_of(storage) is None or best.value is None or not math.isfinite(best.value):
        return best
    value = best.value
    for tid in _query(study, lambda s, sid: tied_trial_ids_rdb(s, sid, value)):
        if tid == trial_id(best):
            return best
        tied = storage.get_trial(tid)
        if not any(v > 0 for v in tied.constraints.values()):
            return tied
    return best


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The study's best trial by Optuna's rule (``Study.best_trial``: the first trial with the
    best value among the feasible COMPLETE ones), None before there is one. On an RDB storage
    the storage's query, and when the trial it names is infeasible, the trials' rows instead
    of ``Study.best_trial``'s read of every COMPLETE trial whole; ties go to the first."""
    storage = study_storage(study)
    if rdb_of(storage) is None:
        try:
            return study.best_trial
        except ValueError:  # no complete (or no feasible) trial yet
            return None
    try:
        best: FrozenTrial | None = storage.get_best_trial(study_id(study))
    except ValueError:  # no COMPLETE trial
        return None
    if best is not None and any(v > 0 for v in best.constraints.values()):
        row = best_row(rows_rdb(study), study.direction, feasible_only=True)
        best = None if row is None else storage.get_trial(row.trial_id)
    return None if best is None else first_of_ties(study, best)


def best_row(
    rows: Sequence[Row], direction: StudyDirection, *, feasible_only: bool = False
) -> Row | None:
    """The best COMPLETE row by Optuna's rule (see :func:`best_complete`)."""
    complete = [r for r in rows if r.state == TrialState.COMPLETE]
    value, constraints = (lambda r: single_value(r.values)), (lambda r: r.constraints)
    return best_complete(complete, value, constraints, direction, feasible_only)


def best_complete(
    complete: Sequence[T],
    value: Callable[[T], float],
    constraints: Callable[[T], dict[str, float]],
    direction: StudyDirection,
    feasible_only: bool = False,
) -> T | None:
    """Optuna's best trial among ``complete`` trials given in trial order: the first with the
    best value; if that one is infeasible (a constraint > 0), the first best of the feasible
    ones; None when there is none (``feasible_only``: skip the first step)."""
    pick = max if direction == StudyDirection.MAXIMIZE else min
    if not feasible_only and complete:
        best = pick(complete, key=value)
        if not any(v > 0 for v in constraints(best).values()):
            return best
    feasible = [t for t in complete if all(v <= 0 for v in constraints(t).values())]
    return pick(feasible, key=value) if feasible else None


def single_value(values: list[float] | None) -> float:
    """A trial's value with one objective, as Optuna's ``FrozenTrial.value`` gives it."""
    return cast(float, values[0] if values else None)


def top_complete(study: optuna.Study, k: int) -> list[FrozenTrial]:
    """The ``k`` best COMPLETE trials of a one-objective study, best first, ties by number. On
    an RDB storage one query and a read of those ``k``: Optuna's cache would read every trial
    whole (18 s for 20,000 trials as automl's workers write them, BENCHMARKS.md)."""
    maximize = study.direction == StudyDirection.MAXIMIZE
    storage = study_storage(study)
    if rdb_of(storage) is None:
        done = [
            t
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None
        ]
        return sorted(done, key=lambda t: t.value, reverse=maximize)[:k]  # type: ignore[arg-type, return-value]
    ids = _query(study, lambda s, sid: top_trial_ids_rdb(s, sid, k, maximize))
    found = {trial_id(t): t for t in trials_by_id(storage, study_id(study), set(ids))}
    return [found[i] for i in ids]


def front_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The Pareto front of a study with several objectives, by Optuna's own rule
    (``Study.best_trials``); on an RDB storage from the trials' rows (values and constraints),
    then a read of the members alone."""
    storage = study_storage(study)
    if rdb_of(storage) is None:
        return list(study.best_trials)
    rows = front_rows(rows_rdb(study), study.directions)
    found = {
        trial_id(t): t for t in trials_by_id(storage, study_id(study), {r.trial_id for r in rows})
    }
    return [found[r.trial_id] for r in rows]


def fail_reasons_rdb(study: optuna.Study) -> list[tuple[int, Any]]:
    """(number, ``fail_reason`` attribute or :data:`MISSING`) of each failed trial, by number."""
    rows = _query(study, lambda storage, sid: fail_reason_rows_rdb(storage, sid, FAIL_REASON))
    return [(n, MISSING if raw is None else json.loads(raw)) for n, raw in rows]


def rows_rdb(study: optuna.Study) -> list[Row]:
    """Every trial of the study as a :class:`Row`, by number (values only of COMPLETE ones)."""
    rows = [
        Row(
            tid,
            number,
            state,
            _in_order(values),
            constraints_of({k: json.loads(v) for k, v in attrs.items()}),
        )
        for tid, number, state, values, attrs in _query(study, trial_rows_rdb)
    ]
    return sorted(rows, key=lambda r: r.number)


def _in_order(pairs: list[Any] | None) -> list[float] | None:
    """Values by objective, as Optuna's RDB storage builds them (a slot per value stored)."""
    if not pairs:
        return None
    out: list[Any] = [0 for _ in pairs]
    for objective, v in pairs:
        out[objective] = v
    return out


def constraints_of(system_attrs: dict[str, Any]) -> dict[str, float]:
    """The constraint values Optuna reads from a trial's system attributes."""
    if not system_attrs:
        return {}
    trial = FrozenTrial(
        number=0,
        state=TrialState.RUNNING,
        value=None,
        datetime_start=None,
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs={},
        system_attrs=system_attrs,
        intermediate_values={},
        trial_id=0,
    )
    return trial.constraints


def front_rows(rows: Sequence[Row], directions: Sequence[StudyDirection]) -> list[Row]:
    """The rows on the Pareto front by Optuna's own rule (``Study.best_trials``): COMPLETE
    trials no other dominates, only feasible ones when any trial of the study (in any state)
    has constraints."""
    constrained = any(r.constraints for r in rows)
    return pareto_front(rows, directions, constrained)


def _query(study: optuna.Study, call: Callable[[Any, int], Any]) -> Any:
    storage = study_storage(study)
    return retried(storage, call, storage, study_id(study))
