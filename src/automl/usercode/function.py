"""``train: python:package.module:function``: import the user's function and run one trial.

The function is ``fit(params: dict, trial: automl.TrialContext) -> float``. Its module is
imported with the working directory (where ``automl run`` or ``automl worker`` started) on
``sys.path``, as a model builder is.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from automl.errors import SpecError, TrialPreempted, as_pruned
from automl.studyfile.schema import TRAIN_FUNCTION

if TYPE_CHECKING:  # imports torch: the coordinator checks a function without it
    from automl.usercode.context import TrialContext

TrainFunction = Callable[[dict[str, Any], "TrialContext"], Any]


def import_function(ref: str) -> TrainFunction:
    """The function ``ref`` names; SpecError (one line, exit 2) when it cannot be used."""
    match = TRAIN_FUNCTION.match(ref)
    if match is None:
        raise SpecError("train", f"{ref!r}: write python:package.module:function")
    module_name, attr = match.groups()
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import error is the user's to fix
        raise SpecError(
            "train", f"cannot import {module_name!r}: {type(exc).__name__}: {exc}"
        ) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise SpecError("train", f"{module_name} has no function {attr!r}")
    _check_signature(fn, ref)
    return fn  # type: ignore[no-any-return]


def _check_signature(fn: Callable[..., Any], ref: str) -> None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a builtin or C function: it will say so when called
    try:
        signature.bind({}, object())
    except TypeError:
        raise SpecError(
            "train", f"{ref} must take two arguments: (params: dict, trial: automl.TrialContext)"
        ) from None


def run_function(fn: TrainFunction, context: TrialContext) -> float | dict[str, float]:
    """Call ``fn``; return its final value. Pruned (ours or Optuna's) -> TrialPruned; Ctrl-C
    or SIGTERM reaching the function -> TrialPreempted; anything else propagates (FAIL)."""
    try:
        value = fn(dict(context.params), context)
    except KeyboardInterrupt:
        raise TrialPreempted(context.checkpoint_step) from None
    except Exception as exc:
        pruned = as_pruned(exc, max(context.reported_steps, default=0))  # ours, or Optuna's
        if pruned is None or pruned is exc:
            raise
        raise pruned from None
    if value is None:
        raise ValueError("the function returned no value; return the final value of the objective")
    if isinstance(value, Mapping):  # several objectives: a value by name (checked by the runner)
        try:
            return {str(k): float(v) for k, v in value.items()}
        except (TypeError, ValueError):
            raise ValueError(
                "the function returned a dict whose values are not all numbers"
            ) from None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"the function returned {type(value).__name__}, not a number") from None
