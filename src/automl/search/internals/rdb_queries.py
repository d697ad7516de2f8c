"""What ``automl status`` and the coordinator ask an RDB storage's tables directly, rather than
reading every trial whole through Optuna's cache (counts.py says why). Each query reads
Optuna's table models (:func:`~automl.search.internals.rdb.rdb_models`), the schema of
Optuna 5.1.0; tests/search/test_counts.py and test_status_read.py compare every answer with
the plain Optuna read, and the guards check each model and column used here.

Each function takes the storage (automl's wrapper, an RDB storage under it) and the study id,
so that a caller can retry it as one call.
"""

from __future__ import annotations

from typing import Any

from optuna.storages import BaseStorage
from optuna.trial import TrialState

from automl.search.internals.rdb import rdb_models, rdb_of, rdb_session


def _session(storage: BaseStorage) -> Any:
    rdb = rdb_of(storage)
    assert rdb is not None, "an RDB storage (the caller checks rdb_of)"
    return rdb_session(rdb)


def count_states_rdb(storage: BaseStorage, study_id: int) -> list[tuple[TrialState, int]]:
    """(state, number of trials) for each state that occurs in the study: one ``GROUP BY``."""
    from sqlalchemy import func

    trial = rdb_models().TrialModel
    with _session(storage) as session:
        return (  # type: ignore[no-any-return]
            session.query(trial.state, func.count(trial.trial_id))
            .filter(trial.study_id == study_id)
            .group_by(trial.state)
            .all()
        )


def running_numbers_rdb(storage: BaseStorage, study_id: int) -> set[int]:
    """The numbers of the study's RUNNING trials, and nothing else of them."""
    trial = rdb_models().TrialModel
    with _session(storage) as session:
        rows = (
            session.query(trial.number)
            .filter(trial.study_id == study_id, trial.state == TrialState.RUNNING)
            .all()
        )
        return {int(number) for (number,) in rows}


def fail_reason_rows_rdb(
    storage: BaseStorage, study_id: int, key: str
) -> list[tuple[int, str | None]]:
    """(number, the user attribute ``key`` as stored JSON, or None) of each failed trial, by
    number: one join."""
    from sqlalchemy import and_

    models = rdb_models()
    trial, attr = models.TrialModel, models.TrialUserAttributeModel
    with _session(storage) as session:
        return (  # type: ignore[no-any-return]
            session.query(trial.number, attr.value_json)
            .outerjoin(attr, and_(attr.trial_id == trial.trial_id, attr.key == key))
            .filter(trial.study_id == study_id, trial.state == TrialState.FAIL)
            .order_by(trial.number)
            .all()
        )


def trial_rows_rdb(
    storage: BaseStorage, study_id: int
) -> list[tuple[int, int, TrialState, list[tuple[int, float]] | None, dict[str, str]]]:
    """Every trial of the study as (trial id, number, state, its (objective, value) pairs when
    COMPLETE, its constraint system attributes as stored JSON), in three queries."""
    from sqlalchemy import or_

    models = rdb_models()
    trial, value, system = (
        models.TrialModel,
        models.TrialValueModel,
        models.TrialSystemAttributeModel,
    )
    with _session(storage) as session:
        trials = (
            session.query(trial.trial_id, trial.number, trial.state)
            .filter(trial.study_id == study_id)
            .all()
        )
        values: dict[int, list[tuple[int, float]]] = {}
        told = (
            session.query(value.trial_id, value.objective, value.value, value.value_type)
            .join(trial, trial.trial_id == value.trial_id)
            .filter(trial.study_id == study_id, trial.state == TrialState.COMPLETE)
            .all()
        )
        for tid, objective, v, kind in sorted(told, key=lambda r: (r[0], r[1])):
            values.setdefault(tid, []).append((objective, value.stored_repr_to_value(v, kind)))
        attrs: dict[int, dict[str, str]] = {}
        for tid, key, raw in (
            session.query(system.trial_id, system.key, system.value_json)
            .join(trial, trial.trial_id == system.trial_id)
            .filter(
                trial.study_id == study_id,
                or_(system.key == "constraints", system.key.like("constraints:%")),
            )
            .all()
        ):
            attrs.setdefault(tid, {})[key] = raw
        return [
            (tid, number, state, values.get(tid), attrs.get(tid, {}))
            for tid, number, state in trials
        ]


def _complete_first_values(session: Any, study_id: int) -> tuple[Any, Any, Any]:
    """(query, trial model, value model): the trial ids of the study's COMPLETE trials, joined
    with the row of their first objective's value, for the caller to filter and order."""
    models = rdb_models()
    trial, told = models.TrialModel, models.TrialValueModel
    query = (
        session.query(trial.trial_id)
        .join(told, told.trial_id == trial.trial_id)
        .filter(
            trial.study_id == study_id,
            trial.state == TrialState.COMPLETE,
            told.objective == 0,
        )
    )
    return query, trial, told


def tied_trial_ids_rdb(storage: BaseStorage, study_id: int, value: float) -> list[int]:
    """The trial ids of the study's COMPLETE trials whose first objective is the finite
    ``value``, by number. Optuna's own best-trial query (``find_max_value_trial_id``) orders by
    value alone, so on a tie the database picks which it returns; this finds the first."""
    with _session(storage) as session:
        query, trial, told = _complete_first_values(session, study_id)
        finite = told.value_type == told.TrialValueType.FINITE
        rows = query.filter(finite, told.value == value).order_by(trial.number).all()
        return [int(tid) for (tid,) in rows]


def top_trial_ids_rdb(storage: BaseStorage, study_id: int, k: int, maximize: bool) -> list[int]:
    """The trial ids of the study's ``k`` best COMPLETE trials on the first objective, best
    first, ties by number; infinite values ranked as Optuna's best-trial query ranks them (by
    their stored kind, then the value). One query, whatever the study's size."""
    from sqlalchemy import case

    with _session(storage) as session:
        query, trial, told = _complete_first_values(session, study_id)
        kinds = told.TrialValueType
        kind = case(
            (told.value_type == kinds.INF_NEG, -1),
            (told.value_type == kinds.FINITE, 0),
            (told.value_type == kinds.INF_POS, 1),
        )
        order = [kind.desc(), told.value.desc()] if maximize else [kind.asc(), told.value.asc()]
        rows = query.order_by(*order, trial.number).limit(k).all()
        return [int(tid) for (tid,) in rows]
