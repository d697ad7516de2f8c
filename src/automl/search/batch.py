"""Several user attributes of one trial in one write.

Optuna's storages write one attribute per call: on PostgreSQL one transaction each, on a
journal one log entry plus a read-back each. A trial ends with about twenty facts (curves,
fold scores, health, duration), so :func:`set_trial_user_attrs` writes them together: in one
transaction on an RDB storage, one append and one read-back on a journal storage, and one
call each on anything else. It reaches into the storages' own helpers, which are not public
API; tests/search/test_batch.py checks on every storage that the one-write path is taken with
the installed Optuna, so an Optuna that moves them fails a test instead of silently slowing.
"""

from __future__ import annotations

import json
from typing import Any

from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages._cached_storage import _CachedStorage


def set_trial_user_attrs(storage: BaseStorage, trial_id: int, attrs: dict[str, Any]) -> None:
    """Write ``attrs`` on the trial; retried as one call when ``storage`` retries (retry.py)."""
    if not attrs:
        return
    retry = getattr(storage, "retry", None)
    if callable(retry):
        retry(_write, storage.inner, trial_id, attrs)  # type: ignore[attr-defined]
    else:
        _write(storage, trial_id, attrs)


def one_write_supported(storage: BaseStorage) -> bool:
    """Whether this storage takes the one-write path (for the test that guards it)."""
    return rdb_of(storage) is not None or _journal(storage) is not None


def _write(storage: BaseStorage, trial_id: int, attrs: dict[str, Any]) -> None:
    rdb, journal = rdb_of(storage), _journal(storage)
    if rdb is not None:
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        with _create_scoped_session(rdb.scoped_session, True) as session:
            upsert = _upsert_statement(rdb.engine.name, models.TrialUserAttributeModel, trial_id, attrs)
            if upsert is None:
                for key, value in attrs.items():
                    rdb._set_trial_attr_without_commit(session, models.TrialUserAttributeModel, trial_id, key, value)  # noqa: SLF001
            else:  # the trial checked once, every attribute in one statement
                trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
                rdb.check_trial_is_updatable(trial_id, trial.state)
                session.execute(upsert)
    elif journal is not None:
        from optuna.storages.journal._storage import JournalOperation

        with journal._thread_lock:  # noqa: SLF001
            worker_id = journal._replay_result.worker_id  # noqa: SLF001
            journal._backend.append_logs([  # noqa: SLF001
                {"op_code": JournalOperation.SET_TRIAL_USER_ATTR, "worker_id": worker_id, "trial_id": trial_id, "user_attr": {key: value}}
                for key, value in attrs.items()
            ])  # fmt: skip
            journal._sync_with_backend()  # noqa: SLF001 - raises, as set_trial_user_attr does, for a finished trial
    else:
        for key, value in attrs.items():
            storage.set_trial_user_attr(trial_id, key, value)


def _upsert_statement(dialect: str, model: Any, trial_id: int, attrs: dict[str, Any]) -> Any:
    """One INSERT .. ON CONFLICT UPDATE of every attribute (as Optuna writes one, JSON values);
    None on a database without it here (then one write per attribute, Optuna's own)."""
    rows = [{"trial_id": trial_id, "key": key, "value_json": json.dumps(value)} for key, value in attrs.items()]
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:
        return None
    statement = insert(model).values(rows)
    return statement.on_conflict_do_update(
        index_elements=[model.trial_id, model.key], set_={"value_json": statement.excluded.value_json}
    )


def _unwrap(storage: BaseStorage) -> BaseStorage:
    storage = getattr(storage, "inner", storage)
    return storage._backend if isinstance(storage, _CachedStorage) else storage  # noqa: SLF001


def rdb_of(storage: BaseStorage) -> RDBStorage | None:
    base = _unwrap(storage)
    ok = isinstance(base, RDBStorage) and hasattr(base, "_set_trial_attr_without_commit")
    return base if ok else None  # type: ignore[return-value]


def _journal(storage: BaseStorage) -> JournalStorage | None:
    base = _unwrap(storage)
    ok = isinstance(base, JournalStorage) and all(hasattr(base, a) for a in ("_thread_lock", "_replay_result", "_backend", "_sync_with_backend"))
    return base if ok else None  # type: ignore[return-value]
