"""Run one trial inside a worker: read it from the storage, train, tell the storage.

This is the one place where Optuna meets the training engine. Local worker processes and
Celery tasks both call :func:`execute_trial` with ids only (storage URL, study name, trial
number); everything else comes from the storage.

Outcomes: a returned value -> COMPLETE; :class:`TrialPruned` -> PRUNED (reason kept; user
code's Optuna ``TrialPruned`` becomes ours where it is called, :func:`automl.errors.as_pruned`);
anything else -> FAIL with the reason as a one-line ``fail_reason`` user attribute.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.errors import PREEMPTED, AutoMLError, TrialPreempted, TrialPruned
from automl.masking import mask_text
from automl.runner.failures import failure_reason
from automl.runner.host import TrialHost
from automl.runner.reporter import ClaimLost, OptunaReporter, run_flushed
from automl.runner.vectors import (
    VectorReporter,
    as_record,
    stored,
    tell_constraints,
    values_to_tell,
)
from automl.search.attrs import attempt_of, lineage_root
from automl.search.batch import set_trial_user_attrs
from automl.search.checkpoints import checkpoint_of
from automl.search.counts import trial_by_number
from automl.search.internals import study_storage, trial_id
from automl.search.storage import make_storage
from automl.search.study import SPEC_ATTR, UID_ATTR, finish_trial, load_study, spec_digest
from automl.studyfile.schema import StudySpec
from automl.studyfile.space import complete_params
from automl.tracking import log_trial
from automl.trial_attrs import (
    CHECKPOINT_EPOCH,
    DURATION_S,
    FAIL_KIND,
    FAIL_REASON,
    HOST,
    METRICS,
    PID,
    PRUNE_REASON,
    PRUNED_AT_EPOCH,
    RESUMED_FROM_EPOCH,
    SLOT,
    TRACEBACK,
    FailKind,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenedTrial:
    """A trial a worker is about to train, with its study and the study file, as read."""

    study: optuna.Study
    spec: StudySpec
    study_uid: str | None
    frozen: FrozenTrial


def open_trial(
    host: TrialHost, storage_url: str, study_name: str, trial_number: int,
    study_uid: str | None = None, digest: str | None = None,
) -> OpenedTrial:  # fmt: skip
    """The trial, its study and study file; KeyError when the storage has no such study or trial.

    Studies and parsed study files are kept in ``host``. A message names the study's uid and
    the digest of its stored study file: while both match what this host has seen, the study
    is not read again at all. Otherwise the study's attributes are read (two round trips), and
    the study file is parsed again only when it changed (a new ``automl run`` may bring one).
    The storage retries a lost connection for the host's window (``host.storage_retry_s``).
    """
    storage = make_storage(storage_url, retry_s=host.storage_retry_s)
    known = host.by_digest.get((storage_url, study_uid, digest)) if study_uid and digest else None
    if known is not None:
        study_id, study, spec = known
        try:
            return OpenedTrial(
                study, spec, study_uid, trial_by_number(storage, study_id, trial_number)
            )
        except KeyError:  # the study was deleted meanwhile: read it afresh
            host.by_digest.pop((storage_url, study_uid, digest), None)  # type: ignore[arg-type]
    study_id = storage.get_study_id_from_name(study_name)
    attrs = storage.get_study_user_attrs(study_id)
    raw = attrs.get(SPEC_ATTR)
    cached = host.studies.get((storage_url, study_id))
    if cached is None or cached[0] != raw:
        study, spec = load_study(storage_url, study_name, retry_s=host.storage_retry_s)
        cached = host.studies[(storage_url, study_id)] = (raw, study, spec)
    frozen = trial_by_number(storage, study_id, trial_number)
    uid = attrs.get(UID_ATTR)
    uid = uid if isinstance(uid, str) else None
    if uid:
        host.by_digest[(storage_url, uid, spec_digest(raw))] = (study_id, cached[1], cached[2])
    return OpenedTrial(cached[1], cached[2], uid, frozen)


def execute_trial(
    host: TrialHost, storage_url: str, study_name: str, trial_number: int, *, slot: str = "cpu",
    should_stop: Callable[[], bool] = lambda: False, opened: OpenedTrial | None = None,
) -> TrialState:  # fmt: skip
    """Train trial ``trial_number`` and record its outcome; return the state it ended in.

    A trial that is no longer RUNNING (finished, or failed by the coordinator meanwhile) is
    left alone: a message delivered twice trains once. ``should_stop`` is asked at every epoch;
    when it turns true, :class:`ClaimLost` is raised and nothing more is written. ``opened`` is
    the trial as the caller just read it (:func:`open_trial`), to save reading it again.
    ``host`` keeps what this process reuses between trials (:mod:`automl.runner.host`).
    """
    from automl import training  # torch is imported only in processes that train

    opened = opened or open_trial(host, storage_url, study_name, trial_number)
    study, spec, frozen = opened.study, opened.spec, opened.frozen
    if frozen.state != TrialState.RUNNING:
        log.info("trial %d is %s; not running it again", trial_number, frozen.state.name)
        return frozen.state
    storage = study_storage(study)
    tid = trial_id(frozen)
    # automl's storages: optuna.Trial need not read it again
    known = getattr(storage, "known", None)
    with known(frozen) if known is not None else contextlib.nullcontext():
        trial = optuna.trial.Trial(study, tid)
    params = complete_params(spec.space, frozen.params)
    started = time.monotonic()
    state: TrialState
    values: float | list[float] | None = None
    facts: dict[str, Any]  # written in one go, with the duration, before the outcome
    # Every retry of a trial shares its checkpoint, keyed by the first trial of the lineage.
    saved = checkpoint_of(spec, storage_url, opened.study_uid, lineage_root(frozen))

    def on_saved(epoch: int) -> None:
        reporter.flush()  # the reports up to the checkpoint are stored before it is recorded
        set_trial_user_attrs(storage, tid, {CHECKPOINT_EPOCH: epoch})

    reporter: OptunaReporter | VectorReporter
    if spec.multi:
        reporter = VectorReporter(
            study,
            storage,
            frozen,
            spec,
            should_stop,
            lambda: ClaimLost(f"trial {trial_number}: claimed by another delivery"),
        )
    else:
        reporter = OptunaReporter(trial, should_stop, spec.primary.name, host.report_writer)
    who = {HOST: socket.gethostname(), SLOT: slot, PID: os.getpid()}
    reporter.write(set_trial_user_attrs, storage, tid, who)  # where the reports go: first
    work: Any
    if spec.own_code:  # train: the user's own function or program
        from automl.usercode.own_trial import OwnTrial

        work = OwnTrial(
            spec,
            params,
            trial_number,
            attempt_of(frozen),
            reporter,
            saved,
            on_saved,
            host.functions,
        )
    else:
        checkpoints = training.Checkpoints(
            saved,
            every_epochs=spec.trainer.checkpoint_epochs,
            every_s=spec.trainer.checkpoint_seconds,
            on_saved=on_saved,
        )
        work = _BuiltIn(spec, params, reporter, checkpoints, host)
    keep_checkpoint = False  # kept only for a run that continues it
    try:
        result = run_flushed(work.run, reporter)  # every report stored before the outcome
    except ClaimLost:
        raise
    except TrialPreempted as stop:
        log.warning(
            "trial %d preempted after epoch %d; it will resume from its checkpoint",
            trial_number,
            stop.epoch,
        )
        facts, state, keep_checkpoint = (
            {FAIL_REASON: PREEMPTED, FAIL_KIND: FailKind.PREEMPTED.value},
            TrialState.FAIL,
            True,
        )
    except TrialPruned as pruned:
        facts = {**pruned.details, PRUNE_REASON: pruned.reason, PRUNED_AT_EPOCH: pruned.epoch}
        state = TrialState.PRUNED
    except Exception as exc:  # noqa: BLE001 - every failure becomes a reason on the trial
        reason = failure_reason(exc, storage_url)
        log.warning("trial %d failed: %s", trial_number, reason)
        facts = {FAIL_REASON: reason}
        if not isinstance(exc, AutoMLError):
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-6))
            facts[TRACEBACK] = mask_text(tb, storage_url)[-4000:]
        state = TrialState.FAIL
    else:
        facts = result.user_attrs()
        try:
            values = values_to_tell(spec, result.final)
        except AutoMLError as exc:
            facts[FAIL_REASON], values = exc.one_line(), None
        finite = values is not None and all(
            math.isfinite(v) for v in (values if isinstance(values, list) else [values])
        )
        state = TrialState.COMPLETE if finite else TrialState.FAIL
        if state == TrialState.FAIL:
            facts.setdefault(FAIL_REASON, f"the score is {values}")
            values = None
        elif (spec.multi or spec.constraints) and METRICS not in facts:
            facts[METRICS] = stored(as_record(result.final, spec.objective_names))
    if state == TrialState.FAIL:
        facts.setdefault(FAIL_KIND, FailKind.ERROR.value)
    if (
        state == TrialState.PRUNED
        and isinstance(reporter, VectorReporter)
        and METRICS not in facts
        and reporter.last
    ):
        facts[METRICS] = reporter.last  # a pruned trial keeps its last vector
    facts[DURATION_S] = round(time.monotonic() - started, 3)
    facts[RESUMED_FROM_EPOCH] = work.resumed_from_epoch
    if spec.constraints and state in (TrialState.COMPLETE, TrialState.PRUNED):
        tell_constraints(trial, spec, facts.get(METRICS) or {})
    if (
        state == TrialState.PRUNED
        and isinstance(reporter, OptunaReporter)
        and reporter.last is not None
    ):
        # as Optuna's tell does: a pruned trial's value is its last report
        values = reporter.last[1]
    elif state != TrialState.COMPLETE:
        values = None
    # the facts and the outcome in one write
    if not finish_trial(storage, tid, state, values, facts):
        # failed by the coordinator meanwhile, and perhaps to run again: its checkpoint stays
        log.info("trial %d was finished elsewhere first; its outcome stands", trial_number)
        state = storage.get_trial(tid).state  # what the caller logs is what the storage holds
    elif saved is not None and not keep_checkpoint:
        saved.remove()  # complete, pruned or failed for good: nothing will resume it
    # The trial is safe in the storage; trackers get it as read back from there (never raises).
    log_trial(study, spec, storage_url, trial_number)
    return state


class _BuiltIn:
    """The built-in trainer for one trial, shaped like usercode's OwnTrial."""

    def __init__(
        self,
        spec: StudySpec,
        params: dict[str, Any],
        reporter: OptunaReporter | VectorReporter,
        checkpoints: Any,
        host: TrialHost,
    ) -> None:
        self._spec, self._params, self._reporter, self._checkpoints = (
            spec,
            params,
            reporter,
            checkpoints,
        )
        self._host = host

    @property
    def resumed_from_epoch(self) -> int:
        return int(self._checkpoints.resumed_from_epoch)

    def run(self) -> Any:
        from automl import training

        return training.cross_validate(
            self._spec,
            self._params,
            self._reporter,
            cache=self._host.data,
            checkpoints=self._checkpoints,
        )
