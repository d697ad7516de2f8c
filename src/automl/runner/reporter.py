"""The reporter of one objective: an Optuna trial as the training engine's :class:`Reporter`,
which stops the trial (:class:`ClaimLost`) once another delivery owns it.

A study without a pruner reads nothing back while a trial trains, so its reports are written in
the background, in order, by the process' one report writer (:attr:`TrialHost.report_writer
<automl.runner.host.TrialHost.report_writer>`): a write to PostgreSQL between two epochs takes
about 2 ms, five of them 2% of a 0.5 s trial (BENCHMARKS.md). A write that fails raises at the
next report, or when the trial's reports are flushed: before its checkpoint is recorded and
before its outcome is written (:func:`run_flushed`). The trial's first write, the worker's
host, slot and pid, goes the same way (:meth:`OptunaReporter.write`). With a pruner, each
report is written before the pruner is asked, as Optuna does.

Several objectives: :class:`automl.runner.vectors.VectorReporter`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, Protocol, TypeVar

import optuna

from automl.runner.vectors import as_record


class ClaimLost(Exception):  # noqa: N818 - a signal to stop, not an error of the trial
    """Another delivery owns this trial now: stop training it, and tell the storage nothing."""


# Reports waiting for the writer at most: a storage that is slow or away holds the trial back
# as it would without the writer, and a write that fails is heard within an epoch or two.
MAX_PENDING = 2


class OptunaReporter:
    """Adapts an Optuna trial to the training engine's :class:`Reporter` protocol (one objective;
    several: :class:`automl.runner.vectors.VectorReporter`)."""

    def __init__(
        self,
        trial: optuna.trial.Trial,
        should_stop: Callable[[], bool] = lambda: False,
        name: str = "",
        writer: Executor | None = None,
    ) -> None:
        self._trial = trial
        self._should_stop = should_stop
        self._name = name  # the objective's name, for a value reported as {name: value}
        self.last: tuple[int, float] | None = None  # the latest epoch reported, and its value
        # reports in the background only where nothing reads them back during the trial
        self._writer = writer if isinstance(trial.study.pruner, optuna.pruners.NopPruner) else None
        self._pending: list[Future[None]] = []

    def report(self, epoch: int, value: Any) -> None:
        if self._should_stop():
            raise ClaimLost(f"trial {self._trial.number}: claimed by another delivery")
        self._settle()
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            value = as_record(value, [self._name])[self._name]
        if math.isfinite(value):  # Optuna refuses nan; divergence is reported by the engine
            if self._writer is None:  # Optuna's step: the epoch (your code's step)
                self._trial.report(value, step=epoch)
            else:  # one writer thread: Optuna's trial is touched there alone, in order
                self._submit(self._trial.report, value, step=epoch)
            if self.last is None or epoch >= self.last[0]:
                self.last = (epoch, float(value))

    def write(self, call: Callable[..., None], *args: Any) -> None:
        """Another write of this trial's that nothing reads back while it trains (the worker's
        host, slot and pid at its start): after the reports before it, in the background when
        they are, and then its error raised as theirs is."""
        if self._writer is None:
            call(*args)
        else:
            self._settle()
            self._submit(call, *args)

    def _submit(self, call: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        if len(self._pending) >= MAX_PENDING:  # the storage is slow or away: wait for it
            self._settle(wait_for=1)
        assert self._writer is not None
        self._pending.append(self._writer.submit(call, *args, **kwargs))

    def flush(self, *, raise_errors: bool = True) -> None:
        """Wait until every report is written; raise the first write's error (if asked)."""
        try:
            self._settle(wait_for=len(self._pending))
        except Exception:
            if raise_errors:
                raise

    def _settle(self, wait_for: int = 0) -> None:
        """Forget the writes that ended, oldest first, after waiting for the oldest ``wait_for``
        of them. At the first that failed, drop the ones queued behind it (each would wait out
        the storage's retry window again) and raise its error."""
        while self._pending:
            oldest = self._pending[0]
            if wait_for <= 0 and not oldest.done():
                return
            wait_for -= 1
            self._pending.pop(0)
            error = None if oldest.cancelled() else oldest.exception()
            if error is not None:
                for later in self._pending:
                    later.cancel()
                self._pending = []
                raise error

    def should_prune(self) -> bool:
        if isinstance(self._trial.study.pruner, optuna.pruners.NopPruner):
            return False  # Optuna would read the trial back from the storage to learn that
        return self._trial.should_prune()


class Flushes(Protocol):
    def flush(self, *, raise_errors: bool = True) -> None: ...


T = TypeVar("T")


def run_flushed(run: Callable[[], T], reporter: Flushes) -> T:
    """``run()``, with every report written when it returns or raises. Its own error wins over
    a failed write's, which is raised when ``run`` succeeded."""
    try:
        result = run()
    except BaseException:
        reporter.flush(raise_errors=False)
        raise
    reporter.flush()
    return result
