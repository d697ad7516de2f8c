"""Everything ``automl status`` shows, read as cheaply as each storage allows.

:func:`read_status` gives a :class:`StatusFacts`: the counts by state, the best trial (or the
Pareto front), the running trials whole, and the failed trials' reasons. The numbers are
those of a plain Optuna read (``study.get_trials``, ``study.best_trial``, ``study.best_trials``),
which tests/search/test_status_read.py holds to on every storage kind; only the way there
differs:

* a journal file is not replayed by Optuna (18 s at 100,000 trials) but read by
  :mod:`automl.search.journal_counts` (only the lines that change states) and
  :mod:`automl.search.journal_trials` (the trials shown);
* an RDB storage is asked by queries (:mod:`automl.search.counts`), never for every trial;
* a journal on Redis is opened by Optuna (its snapshot, then the entries since) and read
  from memory.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from automl.errors import StorageError, UsageError
from automl.masking import mask_url
from automl.search.attrs import fail_reason_of
from automl.search.counts import (
    MISSING,
    Row,
    best_complete,
    best_trial,
    constraints_of,
    counts_by_state,
    fail_reasons_rdb,
    front_rows,
    front_trials,
    single_value,
    trials_in_state,
)
from automl.search.internals import rdb_of, study_storage
from automl.search.journal_counts import JournalLog, UnknownLog, read_journal
from automl.search.journal_trials import JournalTrials
from automl.search.storage import storage_kind
from automl.search.study import SPEC_ATTR, load_study
from automl.studyfile.schema import StudySpec
from automl.trial_attrs import FAIL_REASON

METRIC_NAMES = "study:metric_names"  # the study system attribute of Study.set_metric_names


@dataclass
class StatusFacts:
    """What ``automl status`` shows of one study."""

    study_name: str
    directions: list[StudyDirection]
    metric_names: list[str] | None
    counts: dict[str, int]  # by state name, in the order the storage gave them
    best: FrozenTrial | None = None  # one objective: Study.best_trial (None before one)
    front: list[FrozenTrial] = field(default_factory=list)  # several: Study.best_trials
    running: list[FrozenTrial] = field(default_factory=list)  # by number, whole
    fail_reasons: dict[str, int] = field(default_factory=dict)  # in the order they first failed

    @property
    def multi(self) -> bool:
        return len(self.directions) > 1


def read_status(storage_url: str, study_name: str, *, retry_s: float | None = None) -> StatusFacts:
    """The facts of study ``study_name``; the errors of :func:`automl.search.load_study` when
    there is no such study or automl did not create it. ``retry_s``: the storage's retry window."""
    if storage_kind(storage_url) == "journal_file":
        facts = journal_status(storage_url, study_name)
        if facts is not None:
            return facts
    study, _spec = load_study(storage_url, study_name, retry_s=retry_s)
    return study_facts(study)


def study_facts(study: optuna.Study) -> StatusFacts:
    """The facts of a study opened by Optuna; on an RDB storage, by queries (see counts.py)."""
    multi = len(study.directions) > 1
    facts = StatusFacts(
        study.study_name, list(study.directions), study.metric_names, counts_by_state(study)
    )
    facts.running = trials_in_state(study, TrialState.RUNNING)
    storage = study_storage(study)
    if rdb_of(storage) is None:  # a journal, in memory once opened
        facts.fail_reasons = reasons(trials_in_state(study, TrialState.FAIL))
        if multi:
            facts.front = list(study.best_trials)
        else:
            facts.best = best_trial(study)
        return facts
    facts.fail_reasons = reasons(_bare(n, v) for n, v in fail_reasons_rdb(study))
    if multi:
        facts.front = front_trials(study)
    else:
        facts.best = best_trial(study)
    return facts


def reasons(failed: Iterable[FrozenTrial]) -> dict[str, int]:
    """How many failed trials give each reason, in the order the reasons first appear."""
    return dict(Counter(fail_reason_of(t) for t in failed))


def _bare(number: int, reason: object) -> FrozenTrial:
    attrs = {} if reason is MISSING else {FAIL_REASON: reason}
    return FrozenTrial(number=number, state=TrialState.FAIL, value=None, datetime_start=None,
                       datetime_complete=None, params={}, distributions={}, user_attrs=attrs,
                       system_attrs={}, intermediate_values={}, trial_id=number)  # fmt: skip


def journal_status(path: str, study_name: str) -> StatusFacts | None:
    """The facts from a journal file read by :mod:`automl.search.journal_counts`; None when it
    cannot read this log (the caller replays it with Optuna)."""
    log = read_journal(path)
    if log is None:
        return None
    sid = log.find(study_name)
    if sid is None:
        known = ", ".join([s.name for s in log.studies.values()][:10]) or "none"
        raise UsageError(f"no study named {study_name!r} in {mask_url(path)} (studies: {known})")
    study = log.studies[sid]
    raw = study.user_attrs.get(SPEC_ATTR)
    if raw is None:
        raise StorageError(
            f"study {study_name!r} was not created by automl (no {SPEC_ATTR} attribute)"
        )
    StudySpec.model_validate(raw)  # as load_study does: a study file it cannot read fails
    try:
        return _journal_facts(log, study_name, sid)
    except (UnknownLog, ValueError, KeyError, TypeError, AssertionError):
        return None


def _journal_facts(log: JournalLog, study_name: str, sid: int) -> StatusFacts:
    study, read = log.studies[sid], JournalTrials(log)
    tids = study.trial_ids
    counts = Counter(log.state[t] for t in tids)
    facts = StatusFacts(study_name, list(study.directions), study.system_attrs.get(METRIC_NAMES),
                        {TrialState(s).name: n for s, n in counts.items()})  # fmt: skip
    complete, running, failed = (
        s.value for s in (TrialState.COMPLETE, TrialState.RUNNING, TrialState.FAIL)
    )
    if facts.multi:  # every trial, for Optuna's "is any trial constrained"
        rows = [_row(log, t) for t in tids]
        facts.front = read.trials([r.trial_id for r in front_rows(rows, study.directions)])
    else:
        done = [t for t in tids if log.state[t] == complete]
        best = best_complete(
            done,
            lambda t: single_value(log.values(t)),
            lambda t: _constraints(log, t),
            study.directions[0],
        )
        facts.best = None if best is None else read.trials([best])[0]
    facts.running = read.trials([t for t in tids if log.state[t] == running])
    failed_ids = [t for t in tids if log.state[t] == failed]
    facts.fail_reasons = reasons(_bare(n, v) for n, v in read.fail_reasons(failed_ids))
    return facts


def _row(log: JournalLog, tid: int) -> Row:
    return Row(
        tid, log.number[tid], TrialState(log.state[tid]), log.values(tid), _constraints(log, tid)
    )


def _constraints(log: JournalLog, tid: int) -> dict[str, float]:
    attrs = log.system_attrs.get(tid)
    return constraints_of(attrs) if attrs else {}
