"""How many trials a study holds in each state, counted by the storage where it can count.

``automl status`` must answer in seconds on a study of 100,000 trials. Reading every trial to
count them builds every trial's params, values and attributes; on an RDB storage one
``GROUP BY`` query gives the counts instead. Other storages (the journal keeps every trial in
memory once replayed) count what they hold. The RDB path uses Optuna's table model, which is
not public API; tests/search/test_counts.py checks it against a plain count on every storage.
"""

from __future__ import annotations

from collections import Counter

import optuna

from automl.search.batch import rdb_of


def counts_by_state(study: optuna.Study) -> dict[str, int]:
    """``{"COMPLETE": n, "PRUNED": n, ...}`` for the states that occur in the study."""
    storage = study._storage  # noqa: SLF001
    if rdb_of(storage) is None:
        return dict(Counter(t.state.name for t in study.get_trials(deepcopy=False)))
    retry = getattr(storage, "retry", None)
    study_id = study._study_id  # noqa: SLF001
    return retry(_count_rdb, storage, study_id) if callable(retry) else _count_rdb(storage, study_id)


def _count_rdb(storage: optuna.storages.BaseStorage, study_id: int) -> dict[str, int]:
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from sqlalchemy import func

    rdb = rdb_of(storage)
    assert rdb is not None
    with _create_scoped_session(rdb.scoped_session) as session:
        rows = (
            session.query(models.TrialModel.state, func.count(models.TrialModel.trial_id))
            .filter(models.TrialModel.study_id == study_id)
            .group_by(models.TrialModel.state)
            .all()
        )
    return {state.name: int(n) for state, n in rows if n}
