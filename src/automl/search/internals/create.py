"""Several new trials in one transaction on PostgreSQL, known to Optuna's cache as if it had
created each. Checked against Optuna 5.1.0.

Optuna creates a trial in four statements under a lock of the study row (lock, insert, count
the trials before it, write its number) and a commit: the largest part of the coordinator's
cost per trial on PostgreSQL. Under the same lock, ``k`` trials take three statements (lock,
count, one insert of ``k`` rows) and one commit. The numbers are Optuna's: a trial's number is
the count of the study's trials created before it, which the lock makes the count of all of
them, so trials created afterwards by Optuna itself (``study.ask``, ``enqueue_trial``) number
on from there.
"""

from __future__ import annotations

from datetime import datetime, timezone

from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial, TrialState

from automl.search.internals.cached import _cached_storage_class
from automl.search.internals.rdb import rdb_models, rdb_session


def creates_in_bulk(storage: BaseStorage) -> bool:
    """Whether :func:`create_trials` creates several trials at once on ``storage`` (automl's
    wrapper, or what it wraps): Optuna's cache over a PostgreSQL storage. SQLite is left out:
    without a row lock, two writers could count the same trials. Relies on
    ``_CachedStorage._backend``, ``._lock``, ``._studies`` and ``._add_trials_to_cache``
    (Optuna 5.1.0)."""
    cached = getattr(storage, "inner", storage)
    if not isinstance(cached, _cached_storage_class()):
        return False
    rdb = getattr(cached, "_backend", None)
    ok = all(hasattr(cached, a) for a in ("_lock", "_studies", "_add_trials_to_cache"))
    return ok and isinstance(rdb, RDBStorage) and rdb.engine.name == "postgresql"


def create_trials(cached: BaseStorage, study_id: int, k: int) -> list[int]:
    """Create ``k`` RUNNING trials of the study in one transaction; their ids, by number.

    ``cached`` is Optuna's cache over a PostgreSQL storage (:func:`creates_in_bulk`), the
    storage under automl's retrying wrapper; the caller retries the call. Relies on
    ``_CachedStorage._backend``, ``._lock``, ``._studies``, ``._add_trials_to_cache`` and
    ``optuna.storages._cached_storage._StudyInfo`` (Optuna 5.1.0), and on the table models
    (the trials table's ``datetime_start`` column holding UTC).
    """
    from optuna.storages._cached_storage import _StudyInfo
    from sqlalchemy import func, insert

    rdb: RDBStorage = cached._backend  # type: ignore[attr-defined]
    models = rdb_models()
    trial = models.TrialModel
    now = datetime.now()  # shown in local time; stored in UTC, as Optuna's trial model does
    stored = now.astimezone(timezone.utc).replace(tzinfo=None)
    with rdb_session(rdb) as session:
        models.StudyModel.find_or_raise_by_id(study_id, session, for_update=True)  # as Optuna does
        before = (
            session.query(func.count(trial.trial_id)).filter(trial.study_id == study_id).scalar()
        )
        rows = [
            {
                "study_id": study_id,
                "number": before + i,
                "state": TrialState.RUNNING,
                "datetime_start": stored,
            }
            for i in range(k)
        ]
        created = session.execute(
            insert(trial).values(rows).returning(trial.trial_id, trial.number)
        ).all()
    frozen = [
        _frozen(int(tid), int(number), now) for tid, number in sorted(created, key=lambda r: r[1])
    ]
    with cached._lock:  # type: ignore[attr-defined]
        if study_id not in cached._studies:  # type: ignore[attr-defined]
            cached._studies[study_id] = _StudyInfo()  # type: ignore[attr-defined]
        cached._add_trials_to_cache(study_id, frozen)  # type: ignore[attr-defined]
    return [t._trial_id for t in frozen]


def _frozen(trial_id: int, number: int, start: datetime) -> FrozenTrial:
    """A new RUNNING trial as Optuna's RDB storage describes one it has just created."""
    return FrozenTrial(
        number=number, state=TrialState.RUNNING, value=None, values=None, datetime_start=start,
        datetime_complete=None, params={}, distributions={}, user_attrs={}, system_attrs={},
        intermediate_values={}, trial_id=trial_id,
    )  # fmt: skip
