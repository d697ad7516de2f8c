"""Optuna samplers from the study file's ``search.sampler`` section."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from automl.errors import SpecError
from automl.search.options import construct
from automl.studyfile.schema import SamplerSpec
from automl.studyfile.space import BaseParam, CategoricalParam, FixedParam, FloatParam, IntParam

_SAMPLERS: dict[str, Any] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "grid": optuna.samplers.GridSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "gp": optuna.samplers.GPSampler,
    "qmc": optuna.samplers.QMCSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
    "nsga3": optuna.samplers.NSGAIIISampler,
}


def build_sampler(spec: SamplerSpec, space: Mapping[str, BaseParam]) -> optuna.samplers.BaseSampler:
    """The Optuna sampler named by ``spec``; ``space`` is needed only by ``grid``.

    >>> build_sampler(SamplerSpec(type="random", seed=1), {}).__class__.__name__
    'RandomSampler'
    """
    built = {"search_space": grid_of(space)} if spec.type == "grid" else {}
    return construct(
        _SAMPLERS[spec.type], spec.options(), "search.sampler", f"{spec.type} sampler", built
    )


MAX_GRID = 100_000  # points of a grid; Optuna's GridSampler holds every one in memory


def grid_size(space: Mapping[str, BaseParam]) -> int:
    """How many points the grid has, computed without building it."""
    size = 1
    for name, entry in space.items():
        if isinstance(entry, CategoricalParam):
            n = len(entry.choices)
        elif isinstance(entry, IntParam):
            if entry.log:
                raise SpecError(
                    f"space.{name}",
                    "the grid sampler cannot walk a log range; list the values with choices",
                )
            n = (entry.high - entry.low) // entry.step + 1
        elif isinstance(entry, FloatParam):
            if entry.step is None or entry.log:
                raise SpecError(
                    f"space.{name}",
                    "the grid sampler needs a step (and no log) on float parameters",
                )
            n = int(round((entry.high - entry.low) / entry.step)) + 1
        else:
            n = 1
        size *= max(1, n)
    return size


def grid_of(space: Mapping[str, BaseParam]) -> dict[str, list[Any]]:
    """Every value of every parameter, for the grid sampler; a SpecError naming
    ``search.sampler`` when the grid has more than MAX_GRID points."""
    size = grid_size(space)
    if size > MAX_GRID:
        raise SpecError(
            "search.sampler",
            f"the grid has {size:,} points, more than {MAX_GRID:,}; use fewer values, "
            "coarser steps, or another sampler",
        )
    grid: dict[str, list[Any]] = {}
    for name, entry in space.items():
        if isinstance(entry, CategoricalParam):
            grid[name] = list(entry.choices)
        elif isinstance(entry, IntParam):
            if entry.log:
                raise SpecError(
                    f"space.{name}",
                    "the grid sampler cannot walk a log range; list the values with choices",
                )
            grid[name] = list(range(entry.low, entry.high + 1, entry.step))
        elif isinstance(entry, FloatParam):
            if entry.step is None or entry.log:
                raise SpecError(
                    f"space.{name}",
                    "the grid sampler needs a step (and no log) on float parameters",
                )
            n = int(round((entry.high - entry.low) / entry.step))
            grid[name] = [round(entry.low + i * entry.step, 12) for i in range(n + 1)]
        elif not isinstance(entry, FixedParam):  # pragma: no cover - the union is closed
            raise TypeError(entry)
    return grid
