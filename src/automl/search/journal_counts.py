"""The structure of a journal file, for ``automl status``, without replaying the whole log.

Optuna's ``JournalStorage`` replays every line (one JSON operation each) before it answers:
18 s for 100,000 trials of some thirty lines each (520 MB). :class:`JournalLog` finds, in one
regular-expression pass, the lines that create or change studies and trials' states, values
and system attributes (op codes 0-4, 6, 9, 10; one line in fifteen), checking that every
line has the shape Optuna writes (``{"op_code":N,"``, compact JSON), and replays only those,
by Optuna's rules. :mod:`automl.search.journal_trials` reads the rest of the trials asked for.

This mirrors Optuna's journal format and replay rules (optuna/storages/journal/_storage.py),
not public API; checked against Optuna 5.1.0. tests/search/test_journal_counts.py fails when
a release changes an op code, the shape of a line or a mirrored rule (it compares with
Optuna's own replay). A log of another shape gives None, and the caller replays it with Optuna.
"""

from __future__ import annotations

import json
import mmap
import re
from typing import Any

from optuna.study import StudyDirection
from optuna.trial import TrialState

# Optuna's JournalOperation codes (the guard test compares them with Optuna's enum).
CREATE_STUDY, DELETE_STUDY, SET_STUDY_USER_ATTR, SET_STUDY_SYSTEM_ATTR = 0, 1, 2, 3
CREATE_TRIAL, SET_TRIAL_PARAM, SET_TRIAL_STATE_VALUES, SET_TRIAL_INTERMEDIATE_VALUE = 4, 5, 6, 7
SET_TRIAL_USER_ATTR, SET_TRIAL_SYSTEM_ATTR, DISCARD_TRIALS = 8, 9, 10

_STRUCTURE = rb'((?:[0-46]|9|10),"[^\n]*)'  # group: the line after '{"op_code":'
# At every line start: a structural line (captured), a detail line (no match), or a line of
# another shape (an empty match: the caller gives up).
_LINE = re.compile(rb'\n(?:\{"op_code":(?:' + _STRUCTURE + rb'|(?![578],"))|(?!\{"op_code":))')
_FIRST = re.compile(rb'\{"op_code":(?:' + _STRUCTURE + rb'|[578],")')
_STATES = {s.value for s in TrialState}
_FINISHED = {s.value for s in TrialState if s.is_finished()}
_RUNNING = TrialState.RUNNING.value


class UnknownLog(Exception):
    """The log holds something this module does not mirror: replay it with Optuna."""


class _Study:
    def __init__(self, name: str, directions: list[StudyDirection]) -> None:
        self.name, self.directions = name, directions
        self.user_attrs: dict[str, Any] = {}
        self.system_attrs: dict[str, Any] = {}
        self.trial_ids: list[int] = []


def read_journal(path: str) -> JournalLog | None:
    """The log at ``path`` with its structure replayed; None when the file is missing, empty
    or not in the shape this module knows."""
    try:
        with open(path, "rb") as f:
            return JournalLog(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
    except (OSError, ValueError, UnknownLog):  # missing, unreadable, empty, or another shape
        return None


class JournalLog:
    """The studies of a journal file and every trial's state, values and system attributes,
    as Optuna's replay leaves them; the rest of a trial is read on request."""

    def __init__(self, data: Any) -> None:
        self.data = data
        self.end = data.rfind(b"\n") + 1  # Optuna ignores a last line without its newline
        self.studies: dict[int, _Study] = {}
        self._next_study = 0
        self.study_of: list[int] = []
        self.number: list[int] = []
        self.state: list[int] = []  # TrialState values
        self.created_at: list[int] = []  # offset of the line that created the trial
        self.ended_at: list[int] = []  # offset of the line that finished it (else the end)
        self.create_log: list[dict[str, Any]] = []
        self.told: dict[int, list[float]] = {}  # values set by a change of state
        self.started: dict[int, str] = {}  # datetime_start set by a move to RUNNING
        self.completed: dict[int, str] = {}
        self.system_attrs: dict[int, dict[str, Any]] = {}
        self.templated: list[int] = []  # trials created with params
        offsets, lines = self._structure()
        try:
            logs = json.loads(b'[{"op_code":' + b',{"op_code":'.join(lines) + b"]") if lines else []
            self._replay(offsets, logs)
        except (ValueError, KeyError, TypeError, AttributeError, AssertionError) as exc:
            raise UnknownLog(str(exc)) from exc

    def _structure(self) -> tuple[list[int], list[bytes]]:
        if self.end == 0:
            raise UnknownLog("no complete line")
        first = _FIRST.match(self.data, 0, self.end)
        if first is None:
            raise UnknownLog("the first line is not an operation")
        offsets = [0] if first.group(1) is not None else []
        lines = [first.group(1)] if first.group(1) is not None else []
        for m in _LINE.finditer(self.data, 0, self.end - 1):
            line = m.group(1)
            if line is None:
                raise UnknownLog(f"a line at byte {m.start() + 1} is not in Optuna's shape")
            offsets.append(m.start() + 1)
            lines.append(line)
        return offsets, lines

    def _replay(self, offsets: list[int], logs: list[Any]) -> None:
        # Trials are created and change state once each: those two are inlined, with locals.
        studies, state, ended, end = self.studies, self.state, self.ended_at, self.end
        started, completed, told = self.started, self.completed, self.told
        for at, log in zip(offsets, logs, strict=True):
            op = log["op_code"]
            if op == SET_TRIAL_STATE_VALUES:
                tid, new = log["trial_id"], log["state"]
                if tid.__class__ is not int or new.__class__ is not int or new not in _STATES:
                    raise UnknownLog(f"trial id {tid!r}, state {new!r}")
                if not (0 <= tid < len(state) and at < ended[tid]) or new == _RUNNING == state[tid]:
                    continue  # no such trial, finished already, or run by another process
                if new == _RUNNING:
                    started[tid] = log["datetime_start"]
                elif new in _FINISHED:
                    completed[tid] = log["datetime_complete"]
                    ended[tid] = at
                state[tid] = new
                if log["values"] is not None:
                    told[tid] = list(log["values"])
            elif op == CREATE_TRIAL:
                study = studies.get(log["study_id"])
                if study is None:
                    continue
                new = log.get("state", _RUNNING)
                if new.__class__ is not int or new not in _STATES:
                    raise UnknownLog(f"state {new!r}")
                tid = len(state)
                self.study_of.append(log["study_id"])
                self.number.append(len(study.trial_ids))
                state.append(new)
                self.created_at.append(at)
                ended.append(at if new in _FINISHED else end)
                self.create_log.append(log)
                if log.get("system_attrs"):
                    self.system_attrs[tid] = dict(log["system_attrs"])
                if log.get("distributions"):
                    self.templated.append(tid)
                study.trial_ids.append(tid)
            else:
                self._apply_rare(at, op, log)

    def _apply_rare(self, at: int, op: int, log: dict[str, Any]) -> None:
        if op == CREATE_STUDY:
            if all(s.name != log["study_name"] for s in self.studies.values()):
                directions = [StudyDirection(d) for d in log["directions"]]
                self.studies[self._next_study] = _Study(log["study_name"], directions)
                self._next_study += 1
        elif op == DELETE_STUDY:
            self.studies.pop(log["study_id"], None)
        elif op in (SET_STUDY_USER_ATTR, SET_STUDY_SYSTEM_ATTR):
            study = self.studies.get(log["study_id"])
            if study is not None:
                key = "user_attr" if op == SET_STUDY_USER_ATTR else "system_attr"
                assert len(log[key]) == 1
                getattr(study, key + "s").update(log[key])
        elif op == SET_TRIAL_SYSTEM_ATTR:
            tid = log["trial_id"]
            if self.updatable(tid, at):
                assert len(log["system_attr"]) == 1
                self.system_attrs[tid] = {**self.system_attrs.get(tid, {}), **log["system_attr"]}
        elif op != DISCARD_TRIALS:
            raise UnknownLog(f"op code {op}")

    def updatable(self, tid: Any, at: int) -> bool:
        """Trial ``tid`` exists and is not finished at offset ``at`` (else Optuna ignores what
        a line at ``at`` changes)."""
        if tid.__class__ is not int:
            raise UnknownLog(f"trial id {tid!r}")
        return 0 <= tid < len(self.state) and self.created_at[tid] < at < self.ended_at[tid]

    def find(self, study_name: str) -> int | None:
        return next((sid for sid, s in self.studies.items() if s.name == study_name), None)

    def values(self, tid: int) -> list[float] | None:
        log = self.create_log[tid]
        told = self.told.get(tid, log.get("values"))  # a create's value is values of one
        return told if told is not None or log.get("value") is None else [log["value"]]

    def line_at(self, at: int) -> tuple[int, dict[str, Any]]:
        """(offset, operation) of the line holding byte ``at``."""
        start = self.data.rfind(b"\n", 0, at) + 1
        log = json.loads(self.data[start : self.data.find(b"\n", at)])
        if not isinstance(log, dict):
            raise UnknownLog("a line is not an object")
        return start, log
