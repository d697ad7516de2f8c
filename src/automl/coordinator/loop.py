"""The coordinator: ask -> dispatch -> collect, until the study's budget is spent.

* **Ask** on the coordinator (define-by-run), so that conditional spaces work and the sampler
  sees every finished trial.
* **Budget**: ``n_trials`` counts this study's trials that ended with an answer (complete or
  pruned), earlier runs included, so running the same file again resumes and never exceeds it.
  Failed trials do not count; ``max_failed_trials`` bounds them.
* **Retries**: a trial whose worker vanished is failed with the reason and enqueued again with
  the same params, up to ``trial_retries`` times (:mod:`automl.coordinator.retries`).
* **Stopping**: ``timeout`` stops dispatching and lets running trials end; trials still
  waiting in a queue for a worker are withdrawn (failed with reason "not started before the
  timeout", neither retried nor counted). Ctrl-C stops at once: running trials are failed with
  reason "interrupted" and enqueued again for the next run.
* **Settings**: the storage retry window is the study's storage's own, chosen when the study
  was opened (``open_study(..., retry_s=settings.storage_retry_s)``, as ``automl run`` does;
  see :mod:`automl.search.retry`): nothing is set for the process.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import deque
from collections.abc import Callable

import optuna
from optuna.trial import FrozenTrial

from automl.backends.base import Backend, EventKind, TrialEvent, TrialJob
from automl.coordinator.progress import NoProgress, Progress, RunState, StopReason
from automl.coordinator.retries import (
    INTERRUPTED,
    NOT_STARTED,
    NOT_STARTED_STOPPED,
    Retries,
)
from automl.errors import StudyFailedError, StudyInterrupted
from automl.search.counts import counts_by_state
from automl.search.outcomes import best_trial, best_trials, improves, spent_already, update_front
from automl.search.samplers import grid_size
from automl.search.study import (
    SPEC_ATTR,
    UID_ATTR,
    ask_params,
    new_trials,
    spec_digest,
    trial_by_number,
    trial_number_of,
)
from automl.settings import Settings
from automl.studyfile.schema import Direction, StudySpec

log = logging.getLogger(__name__)

# One pass of the loop dispatches (and asks ahead) for at most this long before it collects
# what ended. Without a bound, a fleet of 1,000 slots freed together is served in one pass of
# 1,000 asks and sends (tens of seconds on a loaded PostgreSQL) while the trials that end
# meanwhile wait to be heard: the fleet runs in waves.
DISPATCH_PASS_S = 0.1

# New trials are created this many at a time where the storage can (PostgreSQL: one
# transaction for all, see automl.search.study.new_trials), at most one per slot; each gets
# its params from the sampler only when it is dispatched or asked ahead.
CREATE_AT_ONCE = 16


class Coordinator:
    """Drives one study on one backend. Use once: ``Coordinator(...).run()``."""

    def __init__(
        self,
        spec: StudySpec,
        study: optuna.Study,
        backend: Backend,
        progress: Progress | None = None,
        clock: Callable[[], float] = time.monotonic,
        settings: Settings | None = None,
    ) -> None:
        self.spec = spec
        self.study = study
        self.backend = backend
        self.progress = progress or NoProgress()
        self.settings = settings or Settings()
        self._clock = clock
        self._maximize = spec.direction == Direction.MAXIMIZE
        self._maximizes = [o.maximize for o in spec.objectives]
        self._parallelism = min(spec.execution.parallelism, backend.capacity)
        self._in_flight: dict[int, dict[str, object]] = {}
        self._withdrawn = False  # trials still queued at the timeout were withdrawn
        self._ready: deque[tuple[int, dict[str, object]]] = deque()  # asked ahead, not sent yet
        # ids of trials created ahead (RUNNING), params not drawn yet
        self._blank: deque[int] = deque()
        self._create = max(1, min(CREATE_AT_ONCE, self._parallelism))
        self._ahead = backend.ask_ahead
        backend.when_freed(self._refill)
        uid = study.user_attrs.get(UID_ATTR)
        self._study_uid = uid if isinstance(uid, str) else ""
        self._spec_digest = spec_digest(study.user_attrs.get(SPEC_ATTR))
        self.retries = Retries(spec, study, self._study_uid, self._add_count)
        n_trials = spec.search.n_trials
        if spec.search.sampler.type == "grid":
            n_trials = min(n_trials, grid_size(spec.space))
        self.state = RunState(n_trials=n_trials, timeout_s=spec.search.timeout)

    # -- public -----------------------------------------------------------------------------

    def run(self) -> RunState:
        """Run to the budget. Raises StudyFailedError or StudyInterrupted; returns the state."""
        return self._run()

    # -- the loop ---------------------------------------------------------------------------

    def _run(self) -> RunState:
        started = self._clock()
        if spent_already(self.study, self.state.n_trials):  # no backend started, none needed
            self._recount()
            self._check_stop()
            self.state.elapsed_s = self._clock() - started
            self.progress.update(self.state)
            return self.state
        self.backend.start()
        try:
            self._recover_orphans()
            self._enqueue_start_points()
            self._recount()
            while True:
                self.state.elapsed_s = self._clock() - started
                self._check_stop()
                if self.state.stopping == StopReason.TIMEOUT and not self._withdrawn:
                    self._withdraw_queued()
                if self.state.stopping and (self._ready or self._blank):
                    self._retire_ready()
                pass_ends = time.monotonic() + DISPATCH_PASS_S
                while self._may_dispatch() and time.monotonic() < pass_ends:
                    self._dispatch()
                backlog = self._may_dispatch()  # the pass ran out of time: collect, then go on
                if not backlog:
                    self._ask_ahead(pass_ends)
                if not self._in_flight:
                    break
                self.progress.update(self.state)
                for event in self.backend.wait(timeout_s=0.0 if backlog else 0.5):
                    self._collect(event)
        except KeyboardInterrupt:
            self._interrupt()
            raise StudyInterrupted(
                f"interrupted; running trials were marked failed ({INTERRUPTED}) and "
                "will run again when you resume with the same command"
            ) from None
        finally:
            self.backend.close()
        self.state.elapsed_s = self._clock() - started
        self.progress.update(self.state)
        if self.state.stopping == StopReason.TOO_MANY_FAILED:
            raise StudyFailedError(self.state.stop_words)
        return self.state

    def _check_stop(self) -> None:
        self.state.check_stop(self.spec.search.max_failed_trials, self.retries.failures)

    def _may_dispatch(self) -> bool:
        if self.state.stopping:
            return False
        return (
            len(self._in_flight) < self._parallelism
            and self.state.done + len(self._in_flight) < self.state.n_trials
        )

    def _dispatch(self) -> None:
        number, params = self._ready.popleft() if self._ready else self._ask()
        self._in_flight[number] = params
        self.state.running[number] = params
        self.backend.submit(
            TrialJob(self.study.study_name, number, self._study_uid, self._spec_digest)
        )
        log.debug("trial %d dispatched: %s", number, params)

    def _ask(self) -> tuple[int, dict[str, object]]:
        # An enqueued (WAITING) trial first, as Optuna hands them out. The run knows how many
        # wait (counted at start, and as it enqueues retries): with none, no look for them.
        waiting = self.state.counts.get("WAITING", 0) > 0
        if waiting:
            self._add_count("WAITING", -1)
            return ask_params(self.study, self.spec.space, waiting=True)
        if not self._blank:
            unassigned = (
                self.state.n_trials - self.state.done - len(self._in_flight) - len(self._ready)
            )
            self._blank.extend(new_trials(self.study, min(self._create, unassigned)))
        return ask_params(self.study, self.spec.space, waiting=False, new_id=self._blank.popleft())

    def _ask_ahead(self, pass_ends: float) -> None:
        """Ask the sampler for the next few trials now, while the workers train, so that a slot
        that frees up gets its next trial without waiting for the sampler. Never beyond the
        budget; a handful only, so the sampler still sees nearly every finished trial first;
        within the pass's time, so that ended trials are collected between asks."""
        while (
            not self.state.stopping
            and time.monotonic() < pass_ends
            and len(self._ready) < self._ahead
            and self.state.done + len(self._in_flight) + len(self._ready) < self.state.n_trials
        ):
            self._ready.append(self._ask())

    def _refill(self, freed: int) -> None:
        """``freed`` slots just freed, their trials not read yet: send as many trials asked
        ahead now. Those trials still count as in flight (and toward the budget) until read."""
        for _ in range(freed):
            if not self._ready or self.state.stopping:
                return
            if self.state.done + len(self._in_flight) >= self.state.n_trials:
                return
            self._dispatch()

    def _retire_ready(self) -> None:
        """The run stops: trials asked or created ahead and never sent are failed, neither
        retried nor counted."""
        reason = NOT_STARTED if self.state.stopping == StopReason.TIMEOUT else NOT_STARTED_STOPPED
        while self._ready:
            self._fail_unstarted(self._ready.popleft()[0], reason)
        self._retire_blank(reason)

    def _retire_blank(self, reason: str) -> None:
        """Trials created ahead and given no params yet are failed: nothing to run again."""
        while self._blank:
            self._fail_unstarted(trial_number_of(self.study, self._blank.popleft()), reason)

    def _collect(self, event: TrialEvent) -> None:
        number = event.trial_number
        if self._in_flight.pop(number, None) is None:
            return  # not ours, or told twice: counted once
        self.state.running.pop(number, None)
        frozen = event.frozen or trial_by_number(self.study, number)
        lost = (event.reason or "worker lost") if event.kind == EventKind.LOST else None
        frozen = self.retries.settle(frozen, lost)
        self._count_finished(frozen)
        self.progress.update(self.state, frozen)

    def _withdraw_queued(self) -> None:
        """At the timeout, fail the trials no worker has started: the run ends when it should."""
        self._withdrawn = True
        for number in self.backend.withdraw_queued():
            self._in_flight.pop(number, None)
            self.state.running.pop(number, None)
            self._fail_unstarted(number, NOT_STARTED)

    def _fail_unstarted(self, number: int, reason: str) -> None:
        """Fail a trial no worker started (neither retried nor counted toward ``n_trials``)."""
        self._count_finished(self.retries.fail_unstarted(number, reason))

    def _interrupt(self) -> None:
        # a second Ctrl-C must not cut this short
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            self.backend.cancel_all()  # local workers checkpoint and stop as preempted
            self.retries.interrupted([*self._in_flight, *(n for n, _ in self._ready)])
            self._retire_blank(NOT_STARTED_STOPPED)
            self._in_flight.clear()
            self._ready.clear()
            self.state.running.clear()
        finally:
            signal.signal(signal.SIGINT, previous)

    # -- bookkeeping ------------------------------------------------------------------------

    def _recover_orphans(self) -> None:
        """Trials left RUNNING by a coordinator that died: those a live worker still runs are in
        flight again (:meth:`Retries.recover_orphans` fails and reruns the others)."""
        for number, params in self.retries.recover_orphans(self.backend).items():
            self._in_flight[number] = params
            self.state.running[number] = dict(params)

    def _enqueue_start_points(self) -> None:
        for point in self.spec.search.enqueue:
            # skip_if_exists: a point run (or queued) by an earlier run is not run again.
            self.study.enqueue_trial(dict(point), skip_if_exists=True)

    def _add_count(self, state: str, delta: int) -> None:
        self.state.counts[state] = self.state.counts.get(state, 0) + delta
        self.state.counts["RUNNING"] = len(self._in_flight)

    def _count_finished(self, frozen: FrozenTrial) -> None:
        """Counts kept as trials end, so that no event costs a read of the whole study."""
        self._add_count(frozen.state.name, 1)
        if self.spec.multi:
            self.state.front = update_front(self.state.front, frozen, self._maximizes)
        elif improves(frozen, self.state.best, self._maximize):
            self.state.best = frozen

    def _recount(self) -> None:
        """Counts and best of the whole study as a run starts (it may resume); queries on RDB."""
        self.state.counts = counts_by_state(self.study)
        self.state.counts["RUNNING"] = len(self._in_flight)
        if self.spec.multi:
            self.state.front = best_trials(self.study)
        else:
            self.state.best = best_trial(self.study)
