"""Pass study-file options to an Optuna class, turning its complaints into one-line SpecErrors."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import optuna

from automl.errors import SpecError

T = TypeVar("T")

# Options that take Python objects (callables, other samplers): not writable in YAML.
_NOT_FROM_YAML = {
    "gamma", "weights", "constraints_func", "mutation", "crossover", "independent_sampler",
    "elite_population_selection_strategy", "child_generation_strategy", "after_trial_strategy",
    "source_trials", "search_space",
}  # fmt: skip


def construct(
    factory: Callable[..., T],
    options: Mapping[str, Any],
    path: str,
    what: str,
    built: Mapping[str, Any] | None = None,
) -> T:
    """Call ``factory(**options, **built)`` after checking every user option is one it takes.

    ``built`` holds arguments automl made itself (a grid, a wrapped pruner); they are not checked.
    """
    built = dict(built or {})
    accepted = [
        name
        for name, p in inspect.signature(factory).parameters.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        and name not in _NOT_FROM_YAML | set(built)
    ]
    for key in options:
        if key not in accepted:
            raise SpecError(
                f"{path}.{key}",
                f"not an option of the {what}; options are: {', '.join(accepted) or 'none'}",
            )
    try:
        with warnings.catch_warnings():
            # QMC, GP and others are "experimental" in Optuna; that is for Optuna's users to weigh.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return factory(**options, **built)
    except (TypeError, ValueError) as exc:
        raise SpecError(path, f"{what}: {exc}") from None
