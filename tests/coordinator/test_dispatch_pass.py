"""A long dispatch pass is cut: the coordinator hears trials that ended between its sends.

Without the cut, a fleet whose slots all free at once is served in one pass of asks and sends
while the trials that end meanwhile wait to be heard (measured at 1,000 simulated workers: the
fleet ran in waves, see BENCHMARKS.md). The backend here sends slowly, as a loaded broker does.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import optuna
import pytest

from automl.backends.base import Backend, EventKind, TrialEvent, TrialJob
from automl.coordinator import Coordinator, loop
from automl.search import COUNTED_STATES, open_study
from automl.studyfile import StudySpec


class SlowSends(Backend):
    """Every send takes ``send_s``; a trial sent ends at once (told complete) and is heard at
    the next ``wait``. Records the order of sends and waits."""

    def __init__(self, study: optuna.Study, capacity: int, send_s: float) -> None:
        self.study = study
        self._capacity = capacity
        self.send_s = send_s
        self.sent: list[int] = []
        self.heard: set[int] = set()
        self.log: list[str] = []

    @property
    def capacity(self) -> int:
        return self._capacity

    def start(self) -> None:
        pass

    def submit(self, job: TrialJob) -> None:
        time.sleep(self.send_s)
        self.study.tell(job.trial_number, 0.5)
        self.sent.append(job.trial_number)
        self.log.append("send")

    def wait(self, timeout_s: float) -> list[TrialEvent]:
        self.log.append("wait")
        ended = [n for n in self.sent if n not in self.heard]
        self.heard.update(ended)
        return [TrialEvent(EventKind.ENDED, n) for n in ended]

    def cancel_all(self) -> list[int]:
        return []

    def close(self) -> None:
        pass


def test_a_long_pass_of_sends_stops_to_collect(
    journal_url: str, make_spec: Callable[..., StudySpec]
) -> None:
    spec = make_spec(journal_url, n_trials=40, parallelism=40, sampler="random")
    study = open_study(spec, spec.storage)
    send_s = loop.DISPATCH_PASS_S / 4  # a pass holds about 4 sends
    backend = SlowSends(study, capacity=40, send_s=send_s)
    state = Coordinator(spec, study, backend).run()

    assert state.stopping == "n_trials reached"
    assert len(study.get_trials(states=COUNTED_STATES)) == 40 == len(backend.sent)
    first_wait = backend.log.index("wait")
    # 40 free slots at the start: the first pass ends after about DISPATCH_PASS_S of sends, not
    # after all 40, and the coordinator collects before it sends the rest.
    assert 1 <= first_wait <= 10, backend.log[:20]
    longest_run = max(
        len(run) for run in "".join("s" if e == "send" else " " for e in backend.log).split()
    )
    assert longest_run <= 10


def test_a_quick_pass_fills_every_free_slot_before_it_waits(
    journal_url: str, make_spec: Callable[..., StudySpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop, "DISPATCH_PASS_S", 30.0)  # quick however loaded the machine is
    spec = make_spec(journal_url, n_trials=12, parallelism=6, sampler="random")
    study = open_study(spec, spec.storage)
    backend = SlowSends(study, capacity=6, send_s=0.0)
    Coordinator(spec, study, backend).run()
    assert backend.log[:7] == ["send"] * 6 + ["wait"]
