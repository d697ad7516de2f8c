"""Several trials of an RDB storage read whole, as Optuna builds them, with plain queries.

The coordinator learns of trials that ended, often several at once, and reads each whole
(its values, params, attributes: what the retries, the counts and the progress use). Optuna's
own read of many trials (``RDBStorage._get_trials``) loads ORM objects through six queries;
the same rows as plain tuples cost a fraction of the client's CPU, which on PostgreSQL was the
largest part of the coordinator's cost per trial after trial creation (see BENCHMARKS.md).
The trial built here is the one Optuna builds from the same rows
(``RDBStorage._build_frozen_trial_from_trial_model``); tests/search compare them field by
field. Checked against Optuna 5.1.0.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from optuna.distributions import BaseDistribution, json_to_distribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

from automl.search.internals.rdb import rdb_models, rdb_of, rdb_session


def trials_by_id_rdb(storage: BaseStorage, study_id: int, trial_ids: set[int]) -> list[FrozenTrial]:
    """The study's trials ``trial_ids`` whole, by number: one query per table (six however
    many trials), rows as tuples. Relies on the table models, their ``stored_repr_to_*``
    converters and ``TrialModel._datetime_start_utc`` / ``_datetime_complete_utc`` (times
    stored in UTC, shown in local time; Optuna 5.1.0)."""
    from sqlalchemy import select

    rdb = rdb_of(storage)
    assert rdb is not None, "an RDB storage (the caller checks rdb_of)"
    m = rdb_models()
    ids = sorted(trial_ids)
    t, v, p = m.TrialModel, m.TrialValueModel, m.TrialParamModel
    u, s, i = m.TrialUserAttributeModel, m.TrialSystemAttributeModel, m.TrialIntermediateValueModel
    with rdb_session(rdb) as session:

        def rows(*columns: Any) -> list[Any]:
            table = columns[0].class_
            found = session.execute(select(*columns).where(table.trial_id.in_(ids)))
            return list(found.all())

        trials = session.execute(
            select(
                t.trial_id, t.number, t.state, t._datetime_start_utc, t._datetime_complete_utc
            ).where(t.trial_id.in_(ids), t.study_id == study_id)
        ).all()
        values = rows(v.trial_id, v.objective, v.value, v.value_type)
        params = rows(p.trial_id, p.param_id, p.param_name, p.param_value, p.distribution_json)
        user = rows(u.trial_id, u.key, u.value_json)
        system = rows(s.trial_id, s.key, s.value_json)
        steps = rows(i.trial_id, i.step, i.intermediate_value, i.intermediate_value_type)
    by_id: dict[int, dict[str, Any]] = {
        tid: {"values": {}, "params": [], "user": {}, "system": {}, "steps": {}}
        for tid, *_ in trials
    }
    for tid, objective, value, kind in values:
        by_id[tid]["values"][objective] = v.stored_repr_to_value(value, kind)
    for tid, param_id, name, value, distribution in params:
        by_id[tid]["params"].append((param_id, name, value, distribution))
    for tid, key, raw in user:
        by_id[tid]["user"][key] = json.loads(raw)
    for tid, key, raw in system:
        by_id[tid]["system"][key] = json.loads(raw)
    for tid, step, value, kind in steps:
        by_id[tid]["steps"][step] = i.stored_repr_to_intermediate_value(value, kind)
    built = [_frozen(row, by_id[row[0]]) for row in trials]
    return sorted(built, key=lambda trial: trial.number)


def _frozen(row: Any, parts: dict[str, Any]) -> FrozenTrial:
    """The trial as ``_build_frozen_trial_from_trial_model`` builds it from the same rows."""
    tid, number, state, start, complete = row
    stored = parts["values"]
    values = [stored[k] for k in range(len(stored))] if stored else None
    params = sorted(parts["params"])  # by param_id, as Optuna orders them
    return FrozenTrial(
        number=number,
        state=state,
        value=None,
        values=values,
        datetime_start=_local(start),
        datetime_complete=_local(complete),
        params={name: _distribution(d).to_external_repr(value) for _, name, value, d in params},
        distributions={name: _distribution(d) for _, name, _, d in params},
        user_attrs=parts["user"],
        system_attrs=parts["system"],
        intermediate_values=parts["steps"],
        trial_id=tid,
    )


def _local(stored: datetime | None) -> datetime | None:
    """A time as Optuna's trial model shows it: stored in UTC, shown in local time, naive."""
    return (
        None
        if stored is None
        else stored.replace(tzinfo=timezone.utc).astimezone().replace(tzinfo=None)
    )


@lru_cache(maxsize=1024)
def _distribution(raw: str) -> BaseDistribution:
    """A param's distribution from its stored JSON (the same few strings, over and over)."""
    return json_to_distribution(raw)
