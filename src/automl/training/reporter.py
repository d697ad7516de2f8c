"""The training engine's only window out: report a value per epoch, ask whether to stop.

Contract
--------
* The engine calls :meth:`Reporter.report` once per epoch, in order, with the 1-based epoch
  number and the mean validation metric over the folds after that epoch (the raw metric:
  higher-is-better or lower-is-better as the metric defines it). A study with several
  objectives reports a mapping instead: every objective's value by name.
* Right after each report it calls :meth:`Reporter.should_prune`; on ``True`` it stops and
  raises :class:`automl.errors.TrialPruned` with reason "pruned by the pruner".
* A reporter may be slow (it may write to a remote storage) but must not raise for a transient
  problem it can retry itself.

The worker adapts an Optuna trial to this protocol (the epoch is Optuna's ``step``);
:class:`NullReporter` serves export and benchmarks, where nothing is pruned. Your own code
reports through it too: the step it reports at is the epoch here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, Union

Reported = Union[float, Mapping[str, float]]  # one objective's value, or every objective's by name


class Reporter(Protocol):
    def report(self, epoch: int, value: Reported) -> None:
        """Record the fold-mean validation metric (or metrics) after ``epoch`` (1-based)."""

    def should_prune(self) -> bool:
        """True when the trial should stop now."""


class NullReporter:
    """Remembers what was reported and never prunes."""

    def __init__(self) -> None:
        self.values: dict[int, Reported] = {}

    def report(self, epoch: int, value: Reported) -> None:
        self.values[epoch] = value

    def should_prune(self) -> bool:
        return False
