"""What the coordinator tells whoever watches it (the terminal display, tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from optuna.trial import FrozenTrial

from automl.search.outcomes import counted


@dataclass
class RunState:
    """Counts and clock of the running study, as the coordinator sees them."""

    n_trials: int
    timeout_s: float | None
    elapsed_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)  # TrialState name -> number, whole study
    running: dict[int, dict[str, Any]] = field(default_factory=dict)  # number -> params
    best: FrozenTrial | None = None  # one objective: the best trial so far
    front: list[FrozenTrial] = field(default_factory=list)  # several objectives: the Pareto front so far
    stopping: str | None = None  # why dispatching stopped, once it has

    @property
    def done(self) -> int:
        """Trials that count toward ``n_trials`` (:mod:`automl.search.outcomes`)."""
        return counted(self.counts)


class Progress(Protocol):
    """Receives the coordinator's view after every change. Must not raise."""

    def update(self, state: RunState, finished: FrozenTrial | None = None) -> None: ...


class NoProgress:
    def update(self, state: RunState, finished: FrozenTrial | None = None) -> None:
        return None
