"""Optuna's internals that automl leans on for speed, in one place.

Each function here reaches past Optuna's public API because the public path costs a read of
the storage that automl can prove unnecessary. Each has a guard in
tests/search/test_internals.py that fails when an Optuna release moves what it reaches, and
each falls back to the public path when what it needs is not there. Checked against Optuna
5.1.0.
"""

from __future__ import annotations

from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages._cached_storage import _CachedStorage
from optuna.trial import FrozenTrial

Param = tuple[str, float, BaseDistribution]  # name, value in Optuna's internal form, distribution


def created_trial(storage: BaseStorage, study_id: int, trial_id: int) -> FrozenTrial:
    """The trial this process just created with ``storage.create_new_trial``, as created.

    Optuna's cache in front of an RDB storage keeps the trial it created; reading it back
    through ``get_trial`` would cost six statements, since a RUNNING trial is never served
    from that cache. Any other storage is read (a journal answers from memory).
    """
    cached = getattr(storage, "inner", storage)
    if isinstance(cached, _CachedStorage):
        ids = getattr(cached, "_trial_id_to_study_id_and_number", None)
        studies = getattr(cached, "_studies", None)
        if isinstance(ids, dict) and isinstance(studies, dict) and trial_id in ids:
            known_study, number = ids[trial_id]
            trials = getattr(studies.get(known_study), "trials", None)
            frozen = trials.get(number) if isinstance(trials, dict) else None
            if known_study == study_id and isinstance(frozen, FrozenTrial):
                return frozen
    return storage.get_trial(trial_id)


def write_params(storage: BaseStorage, trial_id: int, params: list[Param]) -> None:
    """Write a new trial's params in one transaction on an RDB storage (one per param is
    Optuna's way: a commit each), checked as Optuna checks them; one call each elsewhere.

    ``storage`` is the storage under automl's retrying wrapper; the caller retries the call.
    """
    rdb = getattr(storage, "_backend", None)
    lock, ids, studies = (getattr(storage, a, None) for a in ("_lock", "_trial_id_to_study_id_and_number", "_studies"))
    usable = (
        isinstance(storage, _CachedStorage) and isinstance(rdb, RDBStorage) and lock is not None
        and isinstance(ids, dict) and isinstance(studies, dict) and trial_id in ids
        and hasattr(rdb, "_set_trial_param_without_commit")
    )  # fmt: skip
    if not usable:
        if not _journal_params(storage, trial_id, params):
            for name, value, distribution in params:
                storage.set_trial_param(trial_id, name, value, distribution)
        return
    from optuna.distributions import check_distribution_compatibility, distribution_to_json
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    assert lock is not None and isinstance(ids, dict) and isinstance(studies, dict)  # usable, above
    with lock:  # as Optuna's cache writes a param: its record of each param's distribution
        known = studies[ids[trial_id][0]].param_distribution
        with _create_scoped_session(rdb.scoped_session, True) as session:  # type: ignore[union-attr]
            if all(name in known for name, _, _ in params):  # the usual case: one INSERT for all
                trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
                rdb.check_trial_is_updatable(trial_id, trial.state)  # type: ignore[union-attr]
                for name, _, distribution in params:
                    check_distribution_compatibility(known[name], distribution)
                session.add_all([
                    models.TrialParamModel(trial_id=trial_id, param_name=name, param_value=value,
                                           distribution_json=distribution_to_json(distribution))
                    for name, value, distribution in params
                ])  # fmt: skip
            else:  # a param seen for the first time: Optuna's own checks against the study
                for name, value, distribution in params:
                    rdb._set_trial_param_without_commit(  # type: ignore[union-attr]
                        session, trial_id, name, value, distribution, known.get(name)
                    )
        for name, _, distribution in params:
            known.setdefault(name, distribution)


def set_intermediate_value(storage: BaseStorage, trial_id: int, step: int, value: float) -> None:
    """A trial's report for ``step``: on PostgreSQL and SQLite the trial's state is checked as
    Optuna checks it, and the value written with one upsert (Optuna looks for the step's row
    first: three statements per report); any other storage, Optuna's own call.

    ``storage`` is the storage under automl's retrying wrapper; the caller retries the call.
    """
    rdb = getattr(storage, "_backend", None)
    dialect = rdb.engine.name if isinstance(rdb, RDBStorage) else None
    if not isinstance(storage, _CachedStorage) or dialect not in ("postgresql", "sqlite"):
        storage.set_trial_intermediate_value(trial_id, step, value)
        return
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    model = models.TrialIntermediateValueModel
    stored, kind = model.intermediate_value_to_stored_repr(value)
    row = {"trial_id": trial_id, "step": step, "intermediate_value": stored, "intermediate_value_type": kind}
    upsert = insert(model).values(row)
    upsert = upsert.on_conflict_do_update(
        index_elements=[model.trial_id, model.step],
        set_={"intermediate_value": stored, "intermediate_value_type": kind},
    )
    with _create_scoped_session(rdb.scoped_session, True) as session:  # type: ignore[union-attr]
        trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
        rdb.check_trial_is_updatable(trial_id, trial.state)  # type: ignore[union-attr]
        session.execute(upsert)


def _journal_params(storage: BaseStorage, trial_id: int, params: list[Param]) -> bool:
    """On a journal storage: every param in one append and one read-back (Optuna: one each);
    False on any other storage."""
    from optuna.distributions import distribution_to_json
    from optuna.storages import JournalStorage
    from optuna.storages.journal._storage import JournalOperation

    needed = ("_thread_lock", "_replay_result", "_backend", "_sync_with_backend")
    if not isinstance(storage, JournalStorage) or not all(hasattr(storage, a) for a in needed):
        return False
    with storage._thread_lock:  # noqa: SLF001
        worker_id = storage._replay_result.worker_id  # noqa: SLF001
        storage._backend.append_logs([  # noqa: SLF001
            {"op_code": JournalOperation.SET_TRIAL_PARAM, "worker_id": worker_id, "trial_id": trial_id,
             "param_name": name, "param_value_internal": value, "distribution": distribution_to_json(distribution)}
            for name, value, distribution in params
        ])  # fmt: skip
        storage._sync_with_backend()  # noqa: SLF001 - raises, as set_trial_param does, for a bad param
    return True
