"""What becomes of a trial that ended without telling its outcome, or never started.

* **Lost** (its worker vanished): failed with the reason and enqueued again with the same
  params (``retry_of`` and ``attempt`` user attributes keep the lineage), up to
  ``trial_retries`` times; with none left, it counts as a failure of the run and its
  checkpoint goes. A trial whose worker told the storage first keeps that outcome.
* **Interrupted** (Ctrl-C) or **orphaned** (left RUNNING by a coordinator that died): failed
  and enqueued again, whatever ``trial_retries`` says; the attempt is not counted.
* **Preempted** (its worker was told to stop, and it checkpointed): enqueued again, not counted.
* **Not started** when the run stops (the timeout, or too many failures): failed with the
  reason, neither retried nor counted toward ``n_trials``.

Optuna hands enqueued trials out before sampling new ones, and a retry resumes from the
checkpoint of its lineage. What is read back from the storage may have been written by anyone
(optuna-dashboard can set user attributes); :mod:`automl.search.attrs` reads it safely.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.backends.base import Backend
from automl.search.attrs import (
    ATTEMPT,
    RETRY_OF,
    attempt_of,
    fail_kind_of,
    fail_reason_of,
    lineage_root,
)
from automl.search.checkpoints import checkpoint_of
from automl.search.study import fail_trial, trial_by_number
from automl.studyfile.schema import StudySpec
from automl.trial_attrs import FailKind

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted"
ORPHANED = "interrupted: its coordinator stopped while it ran"
NOT_STARTED = "not started before the timeout"
NOT_STARTED_STOPPED = "not started: the run stopped early"


class Retries:
    """Fails and enqueues again the trials of one run of ``study``; keeps the run's failures.

    ``add_count(state, delta)`` keeps the run's counts of trials by state (a retry enqueued is
    one more WAITING trial).
    """

    def __init__(
        self,
        spec: StudySpec,
        study: optuna.Study,
        study_uid: str,
        add_count: Callable[[str, int], None],
    ) -> None:
        self.spec, self.study = spec, study
        self._study_uid = study_uid
        self._add_count = add_count
        self.failures: list[str] = []  # final failures of this run (not retried)

    def recover_orphans(self, backend: Backend) -> dict[int, dict[str, object]]:
        """Trials left RUNNING by a coordinator that died: those a live worker still runs are
        awaited (returned: number -> params); the others are failed and run again."""
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        alive = set(
            backend.adopt(self.study.study_name, self._study_uid, [t.number for t in running])
        )
        adopted: dict[int, dict[str, object]] = {}
        for frozen in running:
            if frozen.number in alive:
                adopted[frozen.number] = dict(frozen.params)
                log.info(
                    "trial %d is still running on a live worker; waiting for it", frozen.number
                )
            else:
                self.fail_and_retry(frozen, ORPHANED, FailKind.INTERRUPTED, limit=None)
        return adopted

    def settle(self, frozen: FrozenTrial, lost: str | None) -> FrozenTrial:
        """A trial the backend says ended, or was ``lost`` (the reason), as it ends up: a lost
        one failed and maybe retried, a preempted one enqueued again, a failure noted."""
        if lost is not None and frozen.state == TrialState.RUNNING:
            return self.fail_and_retry(
                frozen, lost, FailKind.LOST, limit=self.spec.execution.trial_retries
            )
        if preempted(frozen):
            self.enqueue_again(frozen, attempt_of(frozen))  # not the trial's fault: not counted
        elif frozen.state == TrialState.FAIL:
            self.failures.append(fail_reason_of(frozen))
        return frozen

    def fail_and_retry(
        self, frozen: FrozenTrial, reason: str, kind: FailKind, *, limit: int | None
    ) -> FrozenTrial:
        """Fail a trial that never told its outcome; enqueue it again while retries are left.

        ``limit=None`` is for stops that are not the trial's fault (Ctrl-C, a dead coordinator):
        it always runs again, and the attempt is not counted against ``trial_retries``.
        """
        if not fail_trial(self.study, frozen, reason, kind):
            # Its worker told the storage first: that outcome stands, and nothing runs again.
            now = trial_by_number(self.study, frozen.number)
            log.info(
                "trial %d ended %s before it could be failed (%s)",
                frozen.number,
                now.state.name,
                reason,
            )
            if now.state == TrialState.FAIL:
                self.failures.append(fail_reason_of(now))
            return now
        attempt = attempt_of(frozen)
        if limit is None or attempt < limit:
            next_attempt = attempt if limit is None else attempt + 1
            self.enqueue_again(frozen, next_attempt)
            log.warning(
                "trial %d failed (%s); enqueued again (attempt %d)",
                frozen.number,
                reason,
                next_attempt,
            )
        else:
            self.failures.append(reason)
            log.warning("trial %d failed (%s); no retries left", frozen.number, reason)
            self._drop_checkpoint(frozen)
        return trial_by_number(self.study, frozen.number)

    def enqueue_again(self, frozen: FrozenTrial, attempt: int) -> None:
        """The same params as a new trial of the same lineage (it resumes from its checkpoint)."""
        self.study.enqueue_trial(
            dict(frozen.params), user_attrs={RETRY_OF: lineage_root(frozen), ATTEMPT: attempt}
        )
        self._add_count("WAITING", 1)

    def interrupted(self, numbers: Iterable[int]) -> None:
        """Ctrl-C: the trials still RUNNING are failed and run again next time, as are those
        that stopped as preempted."""
        for number in numbers:
            frozen = trial_by_number(self.study, number)
            if frozen.state == TrialState.RUNNING:
                self.fail_and_retry(frozen, INTERRUPTED, FailKind.INTERRUPTED, limit=None)
            elif preempted(frozen):
                self.enqueue_again(frozen, attempt_of(frozen))

    def fail_unstarted(self, number: int, reason: str) -> FrozenTrial:
        """Fail a trial no worker started (neither retried nor counted toward ``n_trials``);
        the trial as it is now."""
        frozen = trial_by_number(self.study, number)
        if frozen.state == TrialState.RUNNING and fail_trial(
            self.study, frozen, reason, FailKind.NOT_STARTED
        ):
            log.warning("trial %d withdrawn: %s", number, reason)
        return trial_by_number(self.study, number)

    def _drop_checkpoint(self, frozen: FrozenTrial) -> None:
        """Nothing will resume this lineage: its checkpoint goes (a worker lost mid-trial left
        it)."""
        try:
            found = checkpoint_of(
                self.spec, self.spec.storage, self._study_uid, lineage_root(frozen)
            )
            if found is not None:
                found.remove()
        except Exception as exc:  # noqa: BLE001 - a checkpoint left behind is only disk space
            log.warning("could not remove the checkpoint of trial %d: %s", frozen.number, exc)


def preempted(frozen: FrozenTrial) -> bool:
    """Stopped by its worker's preemption (it checkpointed first): to run again, not counted."""
    return fail_kind_of(frozen) == FailKind.PREEMPTED
