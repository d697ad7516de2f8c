"""Optuna's RDB storage from below: its sessions, its table models, its writes without a
commit; and automl's writes built on them, a transaction for what Optuna writes in several.
Checked against Optuna 5.1.0."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import TrialState

from automl.search.internals.cached import cache_backend, cache_of, under_cache
from automl.search.internals.journal import journal_of, journal_params

Param = tuple[str, float, BaseDistribution]  # name, value in Optuna's internal form, distribution


def rdb_models() -> Any:
    """Optuna's SQLAlchemy table models (``TrialModel``, ``TrialParamModel``, ...). Relies on
    the module ``optuna.storages._rdb.models`` (Optuna 5.1.0)."""
    from optuna.storages._rdb import models

    return models


@contextmanager
def rdb_session(rdb: RDBStorage, *, ignore_integrity_error: bool = False) -> Iterator[Any]:
    """A session of the RDB storage, committed on leaving, rolled back on an error (an
    integrity error passing quietly when asked, as in Optuna's own writes), a driver's error
    raised as Optuna's ``StorageInternalError``. Relies on
    ``optuna.storages._rdb.storage._create_scoped_session`` (Optuna 5.1.0)."""
    from optuna.storages._rdb.storage import _create_scoped_session

    with _create_scoped_session(rdb.scoped_session, ignore_integrity_error) as session:
        yield session


def set_trial_attr_without_commit(
    rdb: RDBStorage, session: Any, trial_id: int, key: str, value: Any
) -> None:
    """A user attribute written in ``session`` with Optuna's checks, not committed. Relies on
    ``RDBStorage._set_trial_attr_without_commit`` (Optuna 5.1.0)."""
    rdb._set_trial_attr_without_commit(
        session, rdb_models().TrialUserAttributeModel, trial_id, key, value
    )


def set_trial_param_without_commit(
    rdb: RDBStorage, session: Any, trial_id: int, param: Param, previous: BaseDistribution | None
) -> None:
    """A param written in ``session`` with Optuna's checks against the study, not committed.
    Relies on ``RDBStorage._set_trial_param_without_commit`` (Optuna 5.1.0)."""
    name, value, distribution = param
    rdb._set_trial_param_without_commit(session, trial_id, name, value, distribution, previous)


def rdb_of(storage: BaseStorage) -> RDBStorage | None:
    """The RDB storage under automl's wrapper and Optuna's cache, when it has the helpers used
    here; None for any other storage."""
    base = cache_backend(storage)
    ok = isinstance(base, RDBStorage) and hasattr(base, "_set_trial_attr_without_commit")
    return base if ok else None  # type: ignore[return-value]


def write_user_attrs_rdb(
    rdb: RDBStorage, trial_id: int, attrs: dict[str, Any], session: Any = None
) -> None:
    """Every attribute in one transaction (``session``'s, when given: committed by its owner):
    on PostgreSQL and SQLite one upsert that writes only while the trial runs (Optuna checks,
    then writes each: two statements per attribute; JSON values as Optuna writes them);
    elsewhere one write each, uncommitted."""
    if session is None:
        with rdb_session(rdb, ignore_integrity_error=True) as own:
            write_user_attrs_rdb(rdb, trial_id, attrs, own)
        return
    if not _guards_writes(rdb):
        for key, value in attrs.items():
            set_trial_attr_without_commit(rdb, session, trial_id, key, value)
        return
    model = rdb_models().TrialUserAttributeModel
    rows = [{"key": key, "value_json": json.dumps(value)} for key, value in attrs.items()]
    upsert = _while_running(model, rdb.engine.name, len(rows), tuple(rows[0]), ("key",))
    _execute_while_running(rdb, session, trial_id, upsert, rows)


def _guards_writes(rdb: RDBStorage) -> bool:
    """Whether :func:`_while_running` serves this database: PostgreSQL and SQLite, the RDB
    storages automl opens (``INSERT ... SELECT`` with ``RETURNING`` and ``ON CONFLICT``)."""
    return rdb.engine.name in ("postgresql", "sqlite")


@lru_cache(maxsize=256)
def _while_running(
    model: Any,
    dialect: str,
    n: int,
    names: tuple[str, ...],
    keys: tuple[str, ...] | None,
    starts: bool = False,
) -> Any:
    """``INSERT INTO <model's table> (trial_id, <names>) SELECT <n rows> WHERE <the trial is
    RUNNING>``, an upsert on (trial_id, ``keys``) unless ``keys`` is None: a write and Optuna's
    "is the trial still updatable" check in one statement instead of a read and a write. Built
    once per shape, with bound parameters (:func:`_execute_while_running` binds them), so that
    SQLAlchemy compiles it once. With ``starts`` (PostgreSQL only), the same statement sets the
    trial's start to now (bound as ``guard_start``, UTC): a trial created ahead
    (:mod:`.create`) starts when it gets its params, as one that ``study.ask()`` made would."""
    from sqlalchemy import Enum, bindparam, cast, exists, select, union_all, update

    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    trial = rdb_models().TrialModel
    running = exists().where(
        trial.trial_id == bindparam("guard_trial_id"), trial.state == TrialState.RUNNING
    )
    columns = model.__table__.columns

    def bound(i: int, c: str) -> Any:
        # an enum typed as such: in a UNION, PostgreSQL would take the bare parameter for text
        kind = columns[c].type
        value = bindparam(f"r{i}_{c}", type_=kind)
        return (cast(value, kind) if isinstance(kind, Enum) else value).label(c)

    selects = [
        select(
            bindparam("guard_trial_id", type_=columns["trial_id"].type).label("trial_id"),
            *(bound(i, c) for c in names),
        ).where(running)
        for i in range(n)
    ]
    if starts:  # PostgreSQL: the guard is an UPDATE of the trial's start, run in the same statement
        table = trial.__table__
        started = (
            update(table)
            .where(table.c.trial_id == bindparam("guard_trial_id"))
            .where(table.c.state == TrialState.RUNNING)
            .values(datetime_start=bindparam("guard_start"))
            .returning(table.c.trial_id)
            .cte("started")
        )
        selects = [select(started.c.trial_id, *(bound(i, c) for c in names)) for i in range(n)]
    # Into the table, not the ORM model: an ORM insert run with parameters is a bulk insert.
    statement = insert(model.__table__).from_select(
        ["trial_id", *names],
        selects[0] if n == 1 else union_all(*selects),
    )
    if keys is not None:
        statement = statement.on_conflict_do_update(
            index_elements=[columns["trial_id"], *(columns[k] for k in keys)],
            set_={c: statement.excluded[c] for c in names if c not in keys},
        )
    return statement.returning(columns["trial_id"])


def _execute_while_running(
    rdb: RDBStorage,
    session: Any,
    trial_id: int,
    statement: Any,
    rows: list[dict[str, Any]],
    **guard: Any,
) -> None:
    """Run a write built by :func:`_while_running` on ``rows``; when it wrote none, the trial
    is missing or finished, and Optuna's own check says so (KeyError, UpdateFinishedTrialError)."""
    bound = {"guard_trial_id": trial_id, **{f"guard_{k}": v for k, v in guard.items()}}
    for i, row in enumerate(rows):
        bound.update({f"r{i}_{column}": value for column, value in row.items()})
    if len(session.execute(statement, bound).all()) >= len(rows):  # rowcount: -1 on psycopg
        return
    trial = rdb_models().TrialModel.find_or_raise_by_id(trial_id, session)
    rdb.check_trial_is_updatable(trial_id, trial.state)
    raise RuntimeError(f"trial {trial_id}: fewer rows written than given while it runs")


def write_params(storage: BaseStorage, trial_id: int, params: list[Param]) -> None:
    """Write a new trial's params in one transaction on an RDB storage (one per param is
    Optuna's way: a commit each), checked as Optuna checks them; in one append on a journal;
    one call each elsewhere.

    ``storage`` is the storage under automl's retrying wrapper; the caller retries the call.
    """
    rdb = under_cache(storage)
    cache = cache_of(storage, trial_id)
    usable = (
        cache is not None
        and isinstance(rdb, RDBStorage)
        and hasattr(rdb, "_set_trial_param_without_commit")
    )
    if not usable:
        journal = journal_of(storage)
        if journal is not None:
            journal_params(journal, trial_id, params)
        else:
            for name, value, distribution in params:
                storage.set_trial_param(trial_id, name, value, distribution)
        return
    from optuna.distributions import check_distribution_compatibility, distribution_to_json

    assert cache is not None and isinstance(rdb, RDBStorage)  # usable, above
    models = rdb_models()
    with cache.lock:  # as Optuna's cache writes a param: its record of each param's distribution
        known = cache.param_distributions(trial_id)
        with rdb_session(rdb, ignore_integrity_error=True) as session:
            # the usual case: one INSERT for all
            if _guards_writes(rdb) and all(name in known for name, _, _ in params):
                for name, _, distribution in params:
                    check_distribution_compatibility(known[name], distribution)
                rows = [
                    {"param_name": name, "param_value": value,
                     "distribution_json": distribution_to_json(distribution)}
                    for name, value, distribution in params
                ]  # fmt: skip
                dialect = rdb.engine.name
                starts = {"start": _utc_now()} if dialect == "postgresql" else {}
                insert = _while_running(
                    models.TrialParamModel, dialect, len(rows), tuple(rows[0]), None, bool(starts)
                )
                _execute_while_running(rdb, session, trial_id, insert, rows, **starts)
            else:  # a param seen for the first time (or another database): Optuna's own checks
                for param in params:
                    set_trial_param_without_commit(
                        rdb, session, trial_id, param, known.get(param[0])
                    )
        for name, _, distribution in params:
            known.setdefault(name, distribution)


def set_intermediate_value(storage: BaseStorage, trial_id: int, step: int, value: float) -> None:
    """A trial's report for ``step``: on PostgreSQL and SQLite one upsert that writes only while
    the trial runs (Optuna reads the trial's state, looks for the step's row, then writes: three
    statements per report); any other storage, Optuna's own call.

    ``storage`` is the storage under automl's retrying wrapper; the caller retries the call.
    """
    rdb = under_cache(storage)
    if not isinstance(rdb, RDBStorage) or not _guards_writes(rdb):
        storage.set_trial_intermediate_value(trial_id, step, value)
        return
    model = rdb_models().TrialIntermediateValueModel
    stored, kind = model.intermediate_value_to_stored_repr(value)
    row = {"step": step, "intermediate_value": stored, "intermediate_value_type": kind}
    upsert = _while_running(model, rdb.engine.name, 1, tuple(row), ("step",))
    with rdb_session(rdb, ignore_integrity_error=True) as session:
        _execute_while_running(rdb, session, trial_id, upsert, [row])


def _utc_now() -> datetime:
    """Now, as Optuna's trial model stores a time: UTC, without a zone."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
