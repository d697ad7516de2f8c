"""New trials created several at a time on PostgreSQL (one transaction for up to
``CREATE_AT_ONCE``), their params drawn one by one as they go out; at a stop, those never
sent are failed as not started, none left RUNNING."""

from __future__ import annotations

from collections.abc import Callable

import optuna
import pytest
from optuna.trial import TrialState

from automl.backends.base import TrialJob
from automl.coordinator import Coordinator
from automl.errors import StudyInterrupted
from automl.search import COUNTED_STATES, open_study
from automl.search.attrs import fail_kind_of
from automl.studyfile import StudySpec
from automl.trial_attrs import FailKind
from tests.coordinator.test_dispatch_pass import SlowSends
from tests.search.sql_count import statements

pytestmark = pytest.mark.integration


class Instant(SlowSends):
    """A trial sent ends at once (told complete) and is heard at the next ``wait``; it must go
    out with its params; the ``interrupt_at``-th send is a Ctrl-C instead."""

    def __init__(self, study: optuna.Study, capacity: int, interrupt_at: int | None = None) -> None:
        super().__init__(study, capacity, send_s=0.0)
        self.interrupt_at = interrupt_at

    def submit(self, job: TrialJob) -> None:
        if self.interrupt_at is not None and len(self.sent) + 1 == self.interrupt_at:
            raise KeyboardInterrupt
        assert self.study.trials[job.trial_number].params, "a trial goes out with its params"
        super().submit(job)


def test_trials_are_created_several_at_a_time_and_all_run(
    postgres_url: str, make_spec: Callable[..., StudySpec]
) -> None:
    spec = make_spec(postgres_url, n_trials=20, parallelism=8, sampler="random")
    study = open_study(spec, spec.storage)
    with statements() as seen:
        state = Coordinator(spec, study, Instant(study, capacity=8)).run()
    assert state.done == 20
    trials = study.get_trials()
    assert [t.number for t in trials] == list(range(20))
    assert all(t.state == TrialState.COMPLETE and t.params for t in trials)
    # a creation each
    locks = [s for s in seen if "FOR UPDATE" in s.upper() and "FROM STUDIES" in s.upper()]
    assert 3 <= len(locks) <= 6, f"{len(locks)} creations for 20 trials, 8 at a time"


def test_trials_created_and_never_sent_are_failed_at_a_stop(
    postgres_url: str, make_spec: Callable[..., StudySpec]
) -> None:
    spec = make_spec(postgres_url, n_trials=20, parallelism=8, sampler="random")
    study = open_study(spec, spec.storage)
    with pytest.raises(StudyInterrupted):
        Coordinator(spec, study, Instant(study, capacity=8, interrupt_at=3)).run()
    trials = study.get_trials()
    assert not [t.number for t in trials if t.state == TrialState.RUNNING]
    assert len(study.get_trials(states=COUNTED_STATES)) == 2
    blank = [t for t in trials if t.state == TrialState.FAIL and not t.params]
    assert blank and all(fail_kind_of(t) == FailKind.NOT_STARTED for t in blank)
