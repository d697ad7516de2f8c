"""Trials whole from a journal file: what :mod:`automl.search.journal_counts` did not parse.

A trial's params, intermediate values and user attributes (op codes 5, 7, 8: fourteen lines
in fifteen) are read only for the trials ``automl status`` shows (running, best, front), by
searching the bytes between a trial's creation and the line that finished it for its id
(``,"trial_id":<id>``), and the fail reasons by searching for ``"user_attr":{"fail_reason":``.
Each line found is parsed and applied by Optuna's rules, as ``JournalStorage`` would.

Like journal_counts this mirrors Optuna's journal format and replay rules (Optuna 5.1.0);
tests/search/test_journal_counts.py guards both, comparing every trial read here with
Optuna's own replay of logs that exercise each rule.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from optuna.distributions import check_distribution_compatibility, json_to_distribution
from optuna.trial import FrozenTrial, TrialState

from automl.search.counts import MISSING
from automl.search.internals import trial_id
from automl.search.journal_counts import (
    SET_TRIAL_INTERMEDIATE_VALUE,
    SET_TRIAL_PARAM,
    SET_TRIAL_USER_ATTR,
    JournalLog,
    UnknownLog,
)
from automl.trial_attrs import FAIL_REASON

DETAIL_OPS = (SET_TRIAL_PARAM, SET_TRIAL_INTERMEDIATE_VALUE, SET_TRIAL_USER_ATTR)
FAIL_REASON_LINE = b'"user_attr":{"fail_reason":'


class JournalTrials:
    """Trials of a :class:`JournalLog`, read whole on request."""

    def __init__(self, journal: JournalLog) -> None:
        self.journal = journal
        self._first_param: dict[tuple[int, str], tuple[int, Any]] = {}

    def trials(self, tids: list[int]) -> list[FrozenTrial]:
        """The trials whole: their params, intermediate values and user attributes read now."""
        out = []
        for tid in tids:
            trial = self.bare(tid)
            for at, op in self._lines_of(tid):
                self._apply(trial, at, op)
            out.append(trial)
        return out

    def bare(self, tid: int) -> FrozenTrial:
        """The trial as its creation and changes of state left it (as Optuna's
        ``_apply_create_trial`` builds it), before its params, steps and user attributes."""
        j, op = self.journal, self.journal.create_log[tid]
        dists = {k: json_to_distribution(v) for k, v in op.get("distributions", {}).items()}
        trial = FrozenTrial(
            number=j.number[tid], state=TrialState(j.state[tid]), trial_id=tid,
            value=op.get("value"), values=op.get("values"), distributions=dists,
            datetime_start=_when(j.started.get(tid, op["datetime_start"])),
            datetime_complete=_when(j.completed.get(tid, op.get("datetime_complete"))),
            params={k: dists[k].to_external_repr(p) for k, p in op.get("params", {}).items()},
            user_attrs=dict(op.get("user_attrs", {})), system_attrs=j.system_attrs.get(tid, {}),
            intermediate_values={int(k): v for k, v in op.get("intermediate_values", {}).items()},
        )  # fmt: skip
        if tid in j.told:
            trial.values = j.told[tid]
        return trial

    def fail_reasons(self, tids: list[int]) -> list[tuple[int, Any]]:
        """(number, ``fail_reason`` user attribute or :data:`MISSING`) of trials ``tids``."""
        j = self.journal
        found = {t: j.create_log[t]["user_attrs"][FAIL_REASON] for t in tids
                 if FAIL_REASON in j.create_log[t].get("user_attrs", {})}  # fmt: skip
        wanted = set(tids)
        at = j.data.find(FAIL_REASON_LINE, 0, j.end)
        while at != -1:
            start, op = j.line_at(at)
            owner: Any = op.get("trial_id")
            mine = op["op_code"] == SET_TRIAL_USER_ATTR and owner in wanted
            if mine and j.updatable(owner, start):
                assert len(op["user_attr"]) == 1
                found[owner] = op["user_attr"][FAIL_REASON]
            at = j.data.find(FAIL_REASON_LINE, at + 1, j.end)
        return [(j.number[t], found.get(t, MISSING)) for t in tids]

    def _lines_of(self, tid: int) -> list[tuple[int, dict[str, Any]]]:
        """The param, step and user-attribute lines of trial ``tid`` that Optuna applies (those
        between its creation and the line that finished it), in order."""
        j, token = self.journal, b',"trial_id":%d' % tid
        out: list[tuple[int, dict[str, Any]]] = []
        at = j.data.find(token, j.created_at[tid], j.ended_at[tid])
        while at != -1:
            after = j.data[at + len(token) : at + len(token) + 1]
            if not after.isdigit():  # id 12, not 123
                start, op = j.line_at(at)
                mine = op.get("trial_id") == tid and op["op_code"] in DETAIL_OPS
                if mine and j.updatable(tid, start) and (not out or out[-1][0] != start):
                    out.append((start, op))
            at = j.data.find(token, at + 1, j.ended_at[tid])
        return out

    def _apply(self, trial: FrozenTrial, at: int, op: dict[str, Any]) -> None:
        if op["op_code"] == SET_TRIAL_INTERMEDIATE_VALUE:
            steps = {**trial.intermediate_values, op["step"]: op["intermediate_value"]}
            trial.intermediate_values = steps
        elif op["op_code"] == SET_TRIAL_USER_ATTR:
            assert len(op["user_attr"]) == 1
            trial.set_user_attr(*next(iter(op["user_attr"].items())))
        else:
            name, dist = op["param_name"], json_to_distribution(op["distribution"])
            if self._param_applies(trial_id(trial), name, dist, at):
                value = dist.to_external_repr(op["param_value_internal"])
                trial.params = {**trial.params, name: value}
                trial.distributions = {**trial.distributions, name: dist}

    def _param_applies(self, tid: int, name: str, dist: Any, at: int) -> bool:
        """Optuna applies a param only when its distribution is compatible with the one the
        study's first trial (by number) holding that param has. Compatibility is an
        equivalence (same kind, same log flag, same choices), so every applied setting is
        compatible with the first one applied: that one decides."""
        sid = self.journal.study_of[tid]
        if (sid, name) not in self._first_param:
            self._first_param[sid, name] = self._first_setting(sid, name)
        first_at, first = self._first_param[sid, name]
        return at <= first_at or _compatible(first, dist)

    def _first_setting(self, sid: int, name: str) -> tuple[int, Any]:
        """(offset, distribution) of the first setting of param ``name`` the study applied: a
        trial created with it, or else the first line that set it on a trial still running."""
        j = self.journal
        ours = [t for t in j.templated if j.study_of[t] == sid]
        dists = [(j.created_at[t], j.create_log[t]["distributions"]) for t in ours]
        created = [(at, json_to_distribution(d[name])) for at, d in dists if name in d]
        first = created[0] if created else None
        token = b'"param_name":' + json.dumps(name).encode() + b","
        at = j.data.find(token, 0, first[0] if first else j.end)
        while at != -1:
            start, op = j.line_at(at)
            owner: Any = op.get("trial_id")
            if op["op_code"] == SET_TRIAL_PARAM and op.get("param_name") == name \
                    and j.updatable(owner, start) and j.study_of[owner] == sid:  # fmt: skip
                first = (start, json_to_distribution(op["distribution"]))
                break
            at = j.data.find(token, at + 1, first[0] if first else j.end)
        if first is None or not all(_compatible(first[1], d) for _, d in created):
            raise UnknownLog(f"param {name!r}: distributions Optuna would not mix")
        return first


def _compatible(old: Any, new: Any) -> bool:
    try:
        check_distribution_compatibility(old, new)
    except ValueError:
        return False
    return True


def _when(text: str | None) -> datetime | None:
    """A journal time as Optuna's replay gives it: naive local time."""
    return None if text is None else datetime.fromisoformat(text).astimezone().replace(tzinfo=None)
