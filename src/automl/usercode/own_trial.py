"""One trial of your own code, function or program, as the worker runs it.

:class:`OwnTrial` gives the runner what the built-in trainer gives it: a final value, the facts
to store on the trial (the reported curve and its best epoch, what ``log`` recorded; the runner
adds the duration), TrialPruned and TrialPreempted as outcomes, and the checkpoint's epoch when
the trial resumed. Your code reports its own steps; on the trial each step is an epoch.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from automl import trial_attrs as attrs
from automl.errors import TrialPruned
from automl.studyfile.schema import StudySpec, TrainCommand
from automl.training.checkpoint import CheckpointBlob
from automl.training.reporter import Reporter
from automl.usercode.context import TrialContext
from automl.usercode.function import TrainFunction, import_function, run_function
from automl.usercode.program import ProgramTrial


class OwnResult:
    def __init__(self, value: float | Mapping[str, float], facts: dict[str, Any]) -> None:
        self.value, self._facts = value, facts

    @property
    def final(self) -> float | Mapping[str, float]:
        """What the study's objectives are told (a dict by name with several)."""
        return self.value

    def user_attrs(self) -> dict[str, Any]:
        return dict(self._facts)


class OwnTrial:
    """``spec.train`` for one trial: ``run()`` returns an :class:`OwnResult`."""

    def __init__(
        self,
        spec: StudySpec,
        params: Mapping[str, Any],
        number: int,
        attempt: int,
        reporter: Reporter,
        blob: CheckpointBlob | None,
        on_saved: Callable[[int], None],
        functions: dict[str, TrainFunction] | None = None,
    ) -> None:
        assert spec.train is not None
        self.train = spec.train
        # the process' imported functions, by name
        self._functions = {} if functions is None else functions
        self._maximize = spec.direction.value == "maximize"
        self._primary = spec.primary.name  # the curve of a study with several objectives
        identity = _identity(spec, params)
        if isinstance(self.train, TrainCommand):
            self._program: ProgramTrial | None = ProgramTrial(
                self.train,
                params,
                number,
                reporter,
                blob,
                identity=identity,
                on_saved=on_saved,
                names=spec.objective_names,
                maximize=[o.maximize for o in spec.objectives],
            )
            self._context: TrialContext | None = None
        else:
            self._program = None
            self._context = TrialContext(
                params, number, attempt, reporter, blob, identity=identity, on_saved=on_saved
            )

    @property
    def resumed_from_epoch(self) -> int:
        """The step of the checkpoint your code resumed from (the trial records it as an epoch)."""
        return self._program.resumed_from_step if self._program else self._context.resumed_from_step  # type: ignore[union-attr]

    def run(self) -> OwnResult:
        try:
            if self._program is not None:
                value = self._program.run()
            else:
                fn = self._functions.get(self.train)  # type: ignore[arg-type]
                if fn is None:
                    fn = self._functions[self.train] = import_function(self.train)  # type: ignore[index, arg-type]
                assert self._context is not None
                value = run_function(fn, self._context)
        except TrialPruned as pruned:
            raise TrialPruned(pruned.reason, pruned.epoch, details=self.facts()) from None
        return OwnResult(value, self.facts())

    def facts(self) -> dict[str, Any]:
        if self._program is not None:
            reported = dict(self._program.reported)
            metrics: dict[str, list[float | None]] = {}
        else:
            assert self._context is not None
            reported, metrics = self._context.reported, self._context.user_metrics
        steps = sorted(reported)
        primary = {s: self._primary_value(reported[s]) for s in steps}
        out: dict[str, Any] = {
            attrs.CURVE: [primary[s] if math.isfinite(primary[s]) else None for s in steps],
            attrs.EPOCHS_RUN: len(steps),
        }
        finite = [s for s in steps if math.isfinite(primary[s])]
        if finite:  # the step of the best reported value (the curve's "best epoch")
            best = (max if self._maximize else min)(finite, key=lambda s: primary[s])
            if best >= 1:
                out[attrs.BEST_EPOCH] = best
        if metrics:
            out[attrs.USER_METRICS] = metrics
        return out

    def _primary_value(self, value: Any) -> float:
        if isinstance(value, Mapping):
            number = value.get(self._primary)
            return float(number) if isinstance(number, (int, float)) else math.nan
        return float(value)


def _identity(spec: StudySpec, params: Mapping[str, Any]) -> str:
    """What a checkpoint must match to be resumed: the same code and the same params."""
    train = (
        spec.train.model_dump(mode="json") if isinstance(spec.train, TrainCommand) else spec.train
    )
    text = json.dumps([train, dict(params)], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
