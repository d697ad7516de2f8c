"""What the coordinator tells whoever watches it (the terminal display, tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from optuna.trial import FrozenTrial

from automl.search.outcomes import counted


class StopReason(str, Enum):
    """Why the coordinator stopped dispatching; the value is the words users see."""

    N_TRIALS = "n_trials reached"
    TIMEOUT = "timeout reached"
    TOO_MANY_FAILED = "too many failed trials"

    def __str__(self) -> str:  # the words, in f-strings too (Enum's own str is the member name)
        return self.value


@dataclass
class RunState:
    """Counts and clock of the running study, as the coordinator sees them."""

    n_trials: int
    timeout_s: float | None
    elapsed_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)  # TrialState name -> number, whole study
    running: dict[int, dict[str, Any]] = field(default_factory=dict)  # number -> params
    best: FrozenTrial | None = None  # one objective: the best trial so far
    # several objectives: the Pareto front so far
    front: list[FrozenTrial] = field(default_factory=list)
    stopping: StopReason | None = None  # why dispatching stopped, once it has
    stop_detail: str = ""  # what goes with it, for people (the failures' count and last reason)

    @property
    def stop_words(self) -> str:
        """Why the run stopped, as the terminal says it ("" while it runs)."""
        if self.stopping is None:
            return ""
        return (
            f"{self.stopping.value}: {self.stop_detail}"
            if self.stop_detail
            else self.stopping.value
        )

    @property
    def done(self) -> int:
        """Trials that count toward ``n_trials`` (:mod:`automl.search.outcomes`)."""
        return counted(self.counts)

    def check_stop(self, max_failed: int | None, failures: list[str]) -> None:
        """Stop dispatching, once, at the first rule met: too many ``failures`` in this run
        (``search.max_failed_trials``), the timeout, the budget."""
        if self.stopping:
            return
        if max_failed is not None and len(failures) >= max_failed:
            self.stopping = StopReason.TOO_MANY_FAILED
            self.stop_detail = (
                f"{len(failures)} failed in this run (search.max_failed_trials = {max_failed}); "
                f"last reason: {failures[-1]}"
            )
        elif self.timeout_s is not None and self.elapsed_s >= self.timeout_s:
            self.stopping = StopReason.TIMEOUT
        elif self.done >= self.n_trials:
            self.stopping = StopReason.N_TRIALS


class Progress(Protocol):
    """Receives the coordinator's view after every change. Must not raise."""

    def update(self, state: RunState, finished: FrozenTrial | None = None) -> None: ...


class NoProgress:
    def update(self, state: RunState, finished: FrozenTrial | None = None) -> None:
        return None
