"""What ``automl status`` reads from an RDB storage, asked of the database, not of every trial.

``automl status`` must answer in seconds on a study of 100,000 trials. Optuna's cache in
front of an RDB storage reads *every* trial whole (params, values, attributes) on the first
``get_trials``, whatever states are asked for: 3.4 minutes and 5.9 GB for 100,000 trials of
automl's attributes (BENCHMARKS.md). So status asks the database: the counts by state with
one ``GROUP BY``, the running trials with a query filtered by state, the failed trials'
reasons with one join, and (only for the Pareto front, or when the best value is infeasible)
the values and constraints of the trials as :class:`Row` objects, not whole trials.

The queries use Optuna's table models and session helper, and :func:`front_rows` Optuna's
own Pareto rule; none is public API. Checked against Optuna 5.1.0: tests/search/test_counts.py
and test_status_read.py check each against the plain Optuna read on every storage.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import optuna
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from automl.search.batch import rdb_of
from automl.trial_attrs import FAIL_REASON

MISSING = object()  # a failed trial without a fail reason


class Row(NamedTuple):
    """One trial as the rules for the best trial and the Pareto front read it."""

    trial_id: int
    number: int
    state: TrialState
    values: list[float] | None
    constraints: dict[str, float]


def counts_by_state(study: optuna.Study) -> dict[str, int]:
    """``{"COMPLETE": n, "PRUNED": n, ...}`` for the states that occur in the study."""
    storage = study._storage  # noqa: SLF001
    if rdb_of(storage) is None:
        return dict(Counter(t.state.name for t in study.get_trials(deepcopy=False)))
    rows = _query(study, _count_rdb)
    return {state.name: int(n) for state, n in rows if n}


def trials_in_state(study: optuna.Study, state: TrialState) -> list[FrozenTrial]:
    """The trials in ``state``, by number, filtered by the database on an RDB storage."""
    storage = study._storage  # noqa: SLF001
    rdb = rdb_of(storage)
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
        return {t.number for t in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))}
    retry = getattr(storage, "retry", None)
    call = _in_session(_running_rdb)
    return retry(call, storage, study_id) if callable(retry) else call(storage, study_id)  # type: ignore[no-any-return]


def _running_rdb(session: Any, study_id: int) -> set[int]:
    from optuna.storages._rdb import models

    trial = models.TrialModel
    rows = session.query(trial.number).filter(trial.study_id == study_id, trial.state == TrialState.RUNNING).all()
    return {int(number) for (number,) in rows}


def fail_reasons_rdb(study: optuna.Study) -> list[tuple[int, Any]]:
    """(number, ``fail_reason`` attribute or :data:`MISSING`) of each failed trial, by number."""

    def run(session: Any, sid: int) -> list[tuple[int, Any]]:
        from optuna.storages._rdb import models
        from sqlalchemy import and_

        trial, attr = models.TrialModel, models.TrialUserAttributeModel
        rows = (
            session.query(trial.number, attr.value_json)
            .outerjoin(attr, and_(attr.trial_id == trial.trial_id, attr.key == FAIL_REASON))
            .filter(trial.study_id == sid, trial.state == TrialState.FAIL)
            .order_by(trial.number)
            .all()
        )
        return [(n, MISSING if raw is None else json.loads(raw)) for n, raw in rows]

    return _query(study, _in_session(run))


def rows_rdb(study: optuna.Study) -> list[Row]:
    """Every trial of the study as a :class:`Row`, by number (values only of COMPLETE ones)."""

    def run(session: Any, sid: int) -> list[Row]:
        from optuna.storages._rdb import models
        from sqlalchemy import or_

        trial, value, system = (
            models.TrialModel,
            models.TrialValueModel,
            models.TrialSystemAttributeModel,
        )
        trials = (
            session.query(trial.trial_id, trial.number, trial.state)
            .filter(trial.study_id == sid)
            .all()
        )
        values: dict[int, list[Any]] = {}
        told = (
            session.query(value.trial_id, value.objective, value.value, value.value_type)
            .join(trial, trial.trial_id == value.trial_id)
            .filter(trial.study_id == sid, trial.state == TrialState.COMPLETE)
            .all()
        )
        for tid, objective, v, kind in sorted(told, key=lambda r: (r[0], r[1])):
            values.setdefault(tid, []).append((objective, value.stored_repr_to_value(v, kind)))
        attrs: dict[int, dict[str, Any]] = {}
        for tid, key, raw in (
            session.query(system.trial_id, system.key, system.value_json)
            .join(trial, trial.trial_id == system.trial_id)
            .filter(
                trial.study_id == sid,
                or_(system.key == "constraints", system.key.like("constraints:%")),
            )
            .all()
        ):
            attrs.setdefault(tid, {})[key] = json.loads(raw)
        rows = [
            Row(tid, number, state, _in_order(values.get(tid)), constraints_of(attrs.get(tid, {})))
            for tid, number, state in trials
        ]
        return sorted(rows, key=lambda r: r.number)

    return _query(study, _in_session(run))


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
    from optuna.study._multi_objective import _get_pareto_front_trials_by_trials

    constrained = any(r.constraints for r in rows)
    # Rows stand in for trials: the rule reads only state, values and constraints.
    front = _get_pareto_front_trials_by_trials(
        rows,  # type: ignore[arg-type]
        directions,
        constrained,
    )
    return front  # type: ignore[return-value]


def _query(study: optuna.Study, call: Callable[[Any, int], Any]) -> Any:
    storage = study._storage  # noqa: SLF001
    retry = getattr(storage, "retry", None)
    study_id = study._study_id  # noqa: SLF001
    return retry(call, storage, study_id) if callable(retry) else call(storage, study_id)


def _in_session(run: Callable[[Any, int], Any]) -> Callable[[Any, int], Any]:
    def call(storage: Any, study_id: int) -> Any:
        from optuna.storages._rdb.storage import _create_scoped_session

        rdb = rdb_of(storage)
        assert rdb is not None
        with _create_scoped_session(rdb.scoped_session) as session:
            return run(session, study_id)

    return call


def _count_rdb(storage: Any, study_id: int) -> list[tuple[TrialState, int]]:
    from optuna.storages._rdb import models
    from sqlalchemy import func

    def run(session: Any, sid: int) -> list[tuple[TrialState, int]]:
        trial = models.TrialModel
        return (
            session.query(trial.state, func.count(trial.trial_id))
            .filter(trial.study_id == sid)
            .group_by(trial.state)
            .all()
        )

    return _in_session(run)(storage, study_id)  # type: ignore[no-any-return]
