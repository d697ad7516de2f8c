"""``automl.TrialContext``: what a training function gets besides its params.

    def fit(params: dict, trial: automl.TrialContext) -> float:
        state = trial.load_checkpoint()            # None on a fresh start
        start = state["epoch"] + 1 if state else 1
        for epoch in range(start, 31):
            ...                                    # your own loop
            trial.report(val_acc, epoch)           # raises automl.TrialPruned when pruned
            trial.save_checkpoint({"epoch": epoch, "model": model.state_dict(), ...})
        return val_acc

Contract:

* :meth:`report` records an intermediate value for ``step`` (any whole number, increasing) and
  raises :class:`automl.TrialPruned` when the study's pruner says stop. Catch it only to clean
  up, then raise it again (or return: the trial is recorded as pruned either way).
* :meth:`save_checkpoint` keeps a dict of tensors, numbers, strings, lists and dicts (state
  dicts of models, optimisers and schedulers are such dicts) as the trial's only checkpoint
  (with the values reported so far). A trial run again after its worker died or was
  preempted gets it back from :meth:`load_checkpoint`, and the values reported up to it are
  carried over to the new trial first, so the pruner sees the whole curve.
* Preemption (SIGTERM to ``automl worker``, Ctrl-C on ``automl run``): the next
  :meth:`save_checkpoint` saves and then stops the trial; a function that never saves is
  stopped at its next :meth:`report`. The trial runs again, not counted as a retry.
* :meth:`log` records extra metrics at the current step; they go to the trackers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from automl.errors import TrialPreempted, TrialPruned
from automl.training.checkpoint import (
    CheckpointBlob,
    fresh_start,
    preemption_requested,
    read_checkpoint,
    torch_bytes,
    write_checkpoint,
)
from automl.training.reporter import Reported, Reporter

FORMAT = 1


class TrialContext:
    """One trial of your own code: its params, number and device, reporting and checkpoints."""

    def __init__(
        self,
        params: Mapping[str, Any],
        number: int,
        attempt: int,
        reporter: Reporter,
        blob: CheckpointBlob | None = None,
        *,
        identity: str = "",
        on_saved: Callable[[int], None] = lambda step: None,
    ) -> None:
        self.params: dict[str, Any] = dict(params)
        self.number = number  # the Optuna trial number
        self.attempt = attempt  # how many times this trial's lineage ran before (0: the first time)
        # the slot's GPU, if any
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self._reporter, self._blob, self._identity, self._on_saved = (
            reporter,
            blob,
            identity,
            on_saved,
        )
        self._reported: dict[int, Reported] = {}
        self._metrics: dict[str, dict[int, float]] = {}
        self._saved_once = False
        self._state: Any = None
        self.resumed_from_step = 0
        self.checkpoint_step = 0
        self._restore()

    # -- the public API ----------------------------------------------------------------------

    def report(self, value: float | Mapping[str, float], step: int) -> None:
        """Record ``value`` at ``step`` (with several objectives, a dict by objective name);
        raise :class:`automl.TrialPruned` when pruned."""
        step = int(step)
        value = (
            {str(k): float(v) for k, v in value.items()}
            if isinstance(value, Mapping)
            else float(value)
        )
        self._reported[step] = value
        # Your step is automl's epoch from here on (reporter, pruner, *_epoch attributes).
        self._reporter.report(step, value)
        if self._reporter.should_prune():
            raise TrialPruned("pruned by the pruner", step)
        if preemption_requested() and not self._saved_once:
            raise TrialPreempted(self.checkpoint_step)

    def save_checkpoint(self, state: Any) -> None:
        """Keep ``state`` (tensors, numbers, strings, lists, dicts) as this trial's checkpoint."""
        self._saved_once = True
        step = max(self._reported, default=0)
        if self._blob is not None:
            blob = {
                "format": FORMAT,
                "identity": self._identity,
                "step": step,
                "reported": dict(self._reported),
                "metrics": self._metrics,
                "state": state,
            }
            if write_checkpoint(self._blob, torch_bytes(blob), step):
                self.checkpoint_step = step
                self._on_saved(step)
        if preemption_requested():
            raise TrialPreempted(self.checkpoint_step)

    def load_checkpoint(self) -> Any:
        """The state last given to :meth:`save_checkpoint` by this trial or the one it retries;
        None on a fresh start."""
        return self._state

    def log(self, **metrics: float) -> None:
        """Extra metrics at the current step (the last reported one), for the trackers."""
        step = max(self._reported, default=0)
        for name, value in metrics.items():
            self._metrics.setdefault(name, {})[step] = float(value)

    # -- for the runner ----------------------------------------------------------------------

    @property
    def reported_steps(self) -> list[int]:
        return sorted(self._reported)

    @property
    def reported(self) -> dict[int, Reported]:
        """Every reported value by step, carried-over ones included."""
        return dict(self._reported)

    @property
    def curve(self) -> list[Any]:
        """The reported values in step order (non-finite numbers as None; dicts as reported)."""
        return [
            v if isinstance(v, Mapping) else _finite(v)
            for v in (self._reported[s] for s in sorted(self._reported))
        ]

    @property
    def user_metrics(self) -> dict[str, list[float | None]]:
        """What :meth:`log` recorded, aligned with :attr:`curve` (None where not logged)."""
        steps = sorted(self._reported)
        return {
            name: [_finite(by_step[s]) if s in by_step else None for s in steps]
            for name, by_step in self._metrics.items()
        }

    def _restore(self) -> None:
        blob = read_checkpoint(self._blob) if self._blob is not None else None
        if blob is None:
            return
        if (
            not isinstance(blob, dict)
            or blob.get("format") != FORMAT
            or blob.get("identity") != self._identity
        ):
            fresh_start("it belongs to other params or another train:")
            return
        self._state = blob["state"]
        self._metrics = {k: dict(v) for k, v in blob.get("metrics", {}).items()}
        # the new trial carries the curve so far
        for step, value in sorted(blob["reported"].items()):
            self._reported[step] = value
            self._reporter.report(step, value)
        self.resumed_from_step = self.checkpoint_step = int(blob["step"])


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
