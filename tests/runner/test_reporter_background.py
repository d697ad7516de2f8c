"""A study without a pruner writes its reports in the background, in order, and every report is
stored before the trial's checkpoint is recorded or its outcome written; with a pruner each
report is written before the pruner is asked."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from automl.runner import TrialHost, execute_trial
from automl.runner.reporter import OptunaReporter, run_flushed
from automl.search import make_storage, open_study
from automl.search.study import ask
from automl.studyfile import parse_spec


class Gated(ThreadPoolExecutor):
    """One writer thread that writes nothing until ``gate`` is set."""

    def __init__(self) -> None:
        super().__init__(1)
        self.gate = threading.Event()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        def held() -> Any:
            assert self.gate.wait(30), "the test never opened the gate"
            return fn(*args, **kwargs)

        return super().submit(held)


def _trial(sqlite_url: str, pruner: optuna.pruners.BasePruner) -> optuna.Trial:
    study = optuna.create_study(storage=make_storage(sqlite_url, cached=False), pruner=pruner)
    return study.ask()


def _stored(sqlite_url: str, trial: optuna.Trial) -> dict[int, float]:
    fresh = make_storage(sqlite_url, cached=False)
    return fresh.get_trial(trial._trial_id).intermediate_values


def test_without_a_pruner_reports_return_at_once_and_are_written_in_order(
    sqlite_url: str,
) -> None:
    trial = _trial(sqlite_url, optuna.pruners.NopPruner())
    writer = Gated()
    reporter = OptunaReporter(trial, writer=writer)
    for epoch in (1, 2):
        reporter.report(epoch, 0.1 * epoch)  # returns while nothing can be written
    assert _stored(sqlite_url, trial) == {}
    assert reporter.last == (2, 0.2)
    threading.Timer(0.3, writer.gate.set).start()
    started = time.monotonic()
    reporter.report(3, 0.3)  # two wait already: this one waits for the writer (a slow storage)
    assert time.monotonic() - started >= 0.25
    reporter.flush()
    assert _stored(sqlite_url, trial) == {1: 0.1, 2: 0.2, 3: 0.3}
    writer.shutdown()


def test_another_write_goes_behind_the_reports_and_its_error_is_theirs(sqlite_url: str) -> None:
    trial = _trial(sqlite_url, optuna.pruners.NopPruner())
    writer = Gated()
    reporter = OptunaReporter(trial, writer=writer)
    storage = make_storage(sqlite_url, cached=False)
    reporter.write(storage.set_trial_user_attr, trial._trial_id, "pid", 7)  # returns at once
    reporter.report(1, 0.5)
    assert make_storage(sqlite_url, cached=False).get_trial(trial._trial_id).user_attrs == {}
    writer.gate.set()
    reporter.flush()
    stored = make_storage(sqlite_url, cached=False).get_trial(trial._trial_id)
    assert stored.user_attrs == {"pid": 7} and stored.intermediate_values == {1: 0.5}

    def refused(*_: object) -> None:
        raise RuntimeError("the storage refused it")

    reporter.write(refused)
    with pytest.raises(RuntimeError, match="refused"):
        reporter.flush()
    writer.shutdown()
    # With a pruner there is no writer: the write is done before write() returns.
    pruned = OptunaReporter(_trial(sqlite_url, optuna.pruners.MedianPruner()), writer=Gated())
    pruned.write(storage.set_trial_user_attr, pruned._trial._trial_id, "pid", 8)
    assert storage.get_trial(pruned._trial._trial_id).user_attrs == {"pid": 8}


def test_with_a_pruner_each_report_is_written_before_it_returns(sqlite_url: str) -> None:
    trial = _trial(sqlite_url, optuna.pruners.MedianPruner())
    writer = Gated()  # never opened: a report that went through it would never be written
    reporter = OptunaReporter(trial, writer=writer)
    reporter.report(1, 0.5)
    assert _stored(sqlite_url, trial) == {1: 0.5}
    assert reporter.should_prune() is False
    writer.gate.set()
    writer.shutdown()


def test_a_failed_write_raises_at_the_next_report_or_the_flush(sqlite_url: str) -> None:
    trial = _trial(sqlite_url, optuna.pruners.NopPruner())
    writer = ThreadPoolExecutor(1)
    reporter = OptunaReporter(trial, writer=writer)
    reporter.report(1, 0.5)
    reporter.flush()
    storage = make_storage(sqlite_url, cached=False)
    storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)  # failed elsewhere
    reporter.report(2, 0.6)  # queued; its write is refused
    with pytest.raises(UpdateFinishedTrialError):
        reporter.flush()
    reporter.report(3, 0.7)
    writer.shutdown(wait=True)
    with pytest.raises(UpdateFinishedTrialError):
        reporter.report(4, 0.8)  # the refused write of epoch 3 surfaces here


def test_run_flushed_waits_for_the_writes_and_lets_the_runs_own_error_win(
    sqlite_url: str,
) -> None:
    trial = _trial(sqlite_url, optuna.pruners.NopPruner())
    writer = ThreadPoolExecutor(1)
    reporter = OptunaReporter(trial, writer=writer)

    def train() -> str:
        reporter.report(1, 0.5)
        return "done"

    assert run_flushed(train, reporter) == "done"
    assert _stored(sqlite_url, trial) == {1: 0.5}  # written when run_flushed returned

    def broken() -> None:
        reporter.report(2, 0.6)
        raise ValueError("the data loader broke")

    make_storage(sqlite_url, cached=False).set_trial_state_values(trial._trial_id, TrialState.FAIL)
    with pytest.raises(ValueError, match="data loader"):
        run_flushed(broken, reporter)  # not the refused write's error
    writer.shutdown()


OWN = """
name: background
storage: {storage}
objective: {{metric: score, direction: maximize}}
train: python:tests.own_code:fit
space: {{lr: 0.01, mode: complete}}
search: {{n_trials: 2, pruner: {{type: none}}}}
"""


def test_a_trial_without_a_pruner_ends_with_every_report_stored(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/b.db"
    spec = parse_spec(OWN.format(storage=storage))
    study = open_study(spec, storage)
    host = TrialHost()
    number = ask(study, waiting=False).number
    assert execute_trial(host, storage, spec.name, number) == TrialState.COMPLETE
    frozen = study.trials[number]
    assert sorted(frozen.intermediate_values) == [1, 2, 3, 4, 5]
    assert frozen.intermediate_values[5] == pytest.approx(frozen.value)
    assert host._writer is not None  # the reports went through the background writer
    assert {"host", "slot", "pid"} <= set(frozen.user_attrs)  # who trained it, written there too
