"""A trial's outcome written in one transaction on an RDB storage: its last attributes, its
values and its state.

A worker ends each trial with its facts (duration, curves, ...) and then its outcome. Through
Optuna that is two transactions and five statements on PostgreSQL: the attributes' upsert, then
``set_trial_state_values``, which locks and reads the trial, looks for each value's row, writes
the value and updates the state. Here the attributes and values are written only while the trial
runs (the guarded writes of :mod:`.rdb`), then the state changes from RUNNING in one ``UPDATE``:
three statements and one commit. When another process finished the trial first, nothing of this
is written. Checked against Optuna 5.1.0.
"""

from __future__ import annotations

from typing import Any

from optuna.storages import RDBStorage
from optuna.trial import TrialState

from automl.search.internals.rdb import (
    _execute_while_running,
    _guards_writes,
    _utc_now,
    _while_running,
    rdb_models,
    rdb_session,
    write_user_attrs_rdb,
)


class _FinishedFirst(Exception):
    """The trial left RUNNING before the state was written: roll everything back."""


def outcome_in_one_write(rdb: RDBStorage | None) -> bool:
    """Whether :func:`write_outcome_rdb` serves this storage (PostgreSQL and SQLite)."""
    return rdb is not None and _guards_writes(rdb)


def write_outcome_rdb(
    rdb: RDBStorage,
    trial_id: int,
    state: TrialState,
    values: list[float] | None,
    attrs: dict[str, Any],
) -> bool:
    """Write ``attrs``, ``values`` and the finished ``state`` of a RUNNING trial in one
    transaction; False, with nothing written, when the trial had already left RUNNING. Values
    are stored as Optuna stores them (``TrialValueModel.value_to_stored_repr``), the end time as
    naive UTC (``TrialModel``'s ``datetime_complete`` column). A missing trial raises Optuna's
    KeyError. Relies on ``TrialValueModel`` and its unique (trial_id, objective) and on the
    ``trials`` table's ``state`` and ``datetime_complete`` columns (Optuna 5.1.0)."""
    from optuna.exceptions import UpdateFinishedTrialError
    from sqlalchemy import update

    assert state.is_finished(), state
    models = rdb_models()
    table = models.TrialModel.__table__
    try:
        with rdb_session(rdb) as session:
            if attrs:
                write_user_attrs_rdb(rdb, trial_id, attrs, session=session)
            if values:
                model = models.TrialValueModel
                rows = []
                for objective, value in enumerate(values):
                    stored, kind = model.value_to_stored_repr(value)
                    rows.append({"objective": objective, "value": stored, "value_type": kind})
                upsert = _while_running(
                    model, rdb.engine.name, len(rows), tuple(rows[0]), ("objective",)
                )
                _execute_while_running(rdb, session, trial_id, upsert, rows)
            finished = session.execute(
                update(table)
                .where(table.c.trial_id == trial_id, table.c.state == TrialState.RUNNING)
                .values(state=state, datetime_complete=_utc_now())
                .returning(table.c.trial_id)
            ).all()
            if not finished:
                raise _FinishedFirst
    except (_FinishedFirst, UpdateFinishedTrialError):
        return False
    return True
