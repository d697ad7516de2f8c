"""A slot that frees gets a trial asked ahead before the coordinator reads what ended there.

Celery's backend hears that a worker is free (its announcement) a few milliseconds before it has
read the trial that ended; the coordinator sends the next trial in between
(:meth:`Backend.when_freed`). The fake backend here does the same, one trial ending per wait.
"""

from __future__ import annotations

from collections.abc import Callable

import optuna
from optuna.trial import TrialState

from automl.backends.base import Backend, EventKind, TrialEvent, TrialJob
from automl.coordinator import Coordinator
from automl.search import COUNTED_STATES, open_study
from automl.studyfile import StudySpec


class Announcing(Backend):
    """The oldest trial running ends at each wait: the backend says one slot freed, then reads
    it (logged) and returns its event."""

    def __init__(self, study: optuna.Study, capacity: int, ahead: int) -> None:
        self.study, self._capacity, self._ahead = study, capacity, ahead
        self.running: list[int] = []
        self.log: list[str] = []
        self.busiest = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def ask_ahead(self) -> int:
        return self._ahead

    def start(self) -> None:
        pass

    def submit(self, job: TrialJob) -> None:
        self.running.append(job.trial_number)
        self.busiest = max(self.busiest, len(self.running))
        self.log.append("send")

    def wait(self, timeout_s: float) -> list[TrialEvent]:
        ended, self.running = self.running[:1], self.running[1:]
        for number in ended:
            self.study.tell(number, 0.5)
        if ended and self._freed is not None:
            self.log.append("freed")
            self._freed(len(ended))
        self.log.append("read")
        return [TrialEvent(EventKind.ENDED, n) for n in ended]

    def cancel_all(self) -> list[int]:
        return []

    def close(self) -> None:
        pass


def test_a_freed_slot_gets_a_trial_asked_ahead_before_the_read(
    journal_url: str, make_spec: Callable[..., StudySpec]
) -> None:
    spec = make_spec(journal_url, n_trials=20, parallelism=4, sampler="random")
    study = open_study(spec, spec.storage)
    backend = Announcing(study, capacity=4, ahead=2)
    state = Coordinator(spec, study, backend).run()

    assert state.stopping == "n_trials reached"
    assert len(study.get_trials(states=COUNTED_STATES)) == 20
    assert len(study.trials) == 20  # nothing asked ahead beyond the budget
    assert backend.busiest <= 4  # never more trials on the workers than slots
    # after the first fill, each trial is sent between "a slot freed" and the read of its trial
    text = " ".join(backend.log)
    assert text.count("freed send read") >= 14, backend.log
    assert text.count("read send") <= 1, backend.log  # hardly any waits for the read


def test_refills_stop_at_the_budget(journal_url: str, make_spec: Callable[..., StudySpec]) -> None:
    spec = make_spec(journal_url, n_trials=5, parallelism=3, sampler="random")
    study = open_study(spec, spec.storage)
    backend = Announcing(study, capacity=3, ahead=3)
    Coordinator(spec, study, backend).run()
    assert backend.log.count("send") == 5
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 5
