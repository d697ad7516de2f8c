"""Several trials of an RDB storage read whole, as Optuna builds them, with plain queries.

The coordinator learns of trials that ended, often several at once, and reads each whole
(its values, params, attributes: what the retries, the counts and the progress use); a worker
reads the trial it is sent. Optuna's own read of many trials (``RDBStorage._get_trials``) loads
ORM objects through six queries, and of one trial by its number two sessions and seven; the
same rows as plain tuples, in two queries (the trials, then all their rows of the five other
tables in one UNION ALL), cost a fraction of the client's CPU and of the round trips, which on
PostgreSQL were the largest part of the coordinator's cost per trial after trial creation and
of a worker's hand-over between two trials (see BENCHMARKS.md).
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

CHUNK = 2000  # trials whose child rows one statement reads


def trials_by_id_rdb(storage: BaseStorage, study_id: int, trial_ids: set[int]) -> list[FrozenTrial]:
    """The study's trials ``trial_ids`` whole, by number: two queries however many trials, rows
    as tuples. Relies on the table models, their ``stored_repr_to_*`` converters and
    ``TrialModel._datetime_start_utc`` / ``_datetime_complete_utc`` (times stored in UTC, shown
    in local time; Optuna 5.1.0)."""
    rdb = rdb_of(storage)
    assert rdb is not None, "an RDB storage (the caller checks rdb_of)"
    t = rdb_models().TrialModel
    with rdb_session(rdb) as session:
        return _read(session, t.trial_id.in_(sorted(trial_ids)) & (t.study_id == study_id))


def trial_by_number_rdb(storage: BaseStorage, study_id: int, number: int) -> FrozenTrial:
    """Trial ``number`` of the study whole, as Optuna's ``get_trial`` builds it, in one session
    and two queries (Optuna: two sessions, seven queries); KeyError when there is none."""
    rdb = rdb_of(storage)
    assert rdb is not None, "an RDB storage (the caller checks rdb_of)"
    t = rdb_models().TrialModel
    with rdb_session(rdb) as session:
        found = _read(session, (t.study_id == study_id) & (t.number == number))
    if not found:
        raise KeyError(
            f"No trial with trial number {number} exists in study with study_id {study_id}."
        )
    return found[0]


def _read(session: Any, where: Any) -> list[FrozenTrial]:
    """The trials ``where`` picks, by number: their rows, then every row of theirs in the five
    tables of values, params, attributes and intermediate values with one UNION ALL."""
    from sqlalchemy import select

    m = rdb_models()
    t, v, i = m.TrialModel, m.TrialValueModel, m.TrialIntermediateValueModel
    trials = session.execute(
        select(t.trial_id, t.number, t.state, t._datetime_start_utc, t._datetime_complete_utc)
        .where(where)
    ).all()  # fmt: skip
    by_id: dict[int, dict[str, Any]] = {
        tid: {"values": {}, "params": [], "user": {}, "system": {}, "steps": {}}
        for tid, *_ in trials
    }
    ids = sorted(by_id)
    rows = [  # each id is bound five times: chunks keep SQLite and PostgreSQL within their limits
        row
        for at in range(0, len(ids), CHUNK)
        for row in session.execute(_children(m, ids[at : at + CHUNK])).all()
    ]
    for tid, kind, n, text, number, more in rows:
        parts = by_id[tid]
        if kind == "v":
            parts["values"][n] = v.stored_repr_to_value(number, v.TrialValueType[more])
        elif kind == "p":
            parts["params"].append((n, text, number, more))
        elif kind in ("u", "s"):
            parts["user" if kind == "u" else "system"][text] = json.loads(more)
        else:
            kind_of = i.TrialIntermediateValueType[more]
            parts["steps"][n] = i.stored_repr_to_intermediate_value(number, kind_of)
    built = [_frozen(row, by_id[row[0]]) for row in trials]
    return sorted(built, key=lambda trial: trial.number)


def _children(m: Any, ids: list[int]) -> Any:
    """One statement for the child rows of trials ``ids``, each as (trial_id, kind, a whole
    number, a text, a number, another text): kinds v (objective, -, value, value type), p
    (param_id, name, value, distribution), u and s (-, key, -, JSON), i (step, -, value, type).
    Kinds are inline SQL, not parameters, and empty columns typed: PostgreSQL must know every
    column's type in a union."""
    from sqlalchemy import Float, Integer, String, cast, literal_column, null, select, union_all

    def none(kind: Any) -> Any:
        return cast(null(), kind)

    def kind(code: str) -> Any:
        return literal_column(f"'{code}'", String)

    v, p = m.TrialValueModel, m.TrialParamModel
    u, s, i = m.TrialUserAttributeModel, m.TrialSystemAttributeModel, m.TrialIntermediateValueModel
    return union_all(
        select(v.trial_id, kind("v"), v.objective, none(String), v.value,
               cast(v.value_type, String)).where(v.trial_id.in_(ids)),
        select(p.trial_id, kind("p"), p.param_id, p.param_name, p.param_value,
               p.distribution_json).where(p.trial_id.in_(ids)),
        select(u.trial_id, kind("u"), none(Integer), u.key, none(Float),
               u.value_json).where(u.trial_id.in_(ids)),
        select(s.trial_id, kind("s"), none(Integer), s.key, none(Float),
               s.value_json).where(s.trial_id.in_(ids)),
        select(i.trial_id, kind("i"), i.step, none(String), i.intermediate_value,
               cast(i.intermediate_value_type, String)).where(i.trial_id.in_(ids)),
    )  # fmt: skip


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
