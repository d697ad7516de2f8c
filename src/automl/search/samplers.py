"""Optuna samplers from the study file's ``search.sampler`` section."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from automl.errors import SpecError
from automl.search.options import construct
from automl.spec.model import SamplerSpec
from automl.spec.space import CategoricalParam, FixedParam, FloatParam, IntParam, _Entry

_SAMPLERS: dict[str, Any] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "grid": optuna.samplers.GridSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "gp": optuna.samplers.GPSampler,
    "qmc": optuna.samplers.QMCSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
}


def build_sampler(spec: SamplerSpec, space: Mapping[str, _Entry]) -> optuna.samplers.BaseSampler:
    """The Optuna sampler named by ``spec``; ``space`` is needed only by ``grid``.

    >>> build_sampler(SamplerSpec(type="random", seed=1), {}).__class__.__name__
    'RandomSampler'
    """
    built = {"search_space": grid_of(space)} if spec.type == "grid" else {}
    return construct(_SAMPLERS[spec.type], spec.options(), "search.sampler", f"{spec.type} sampler", built)


def grid_of(space: Mapping[str, _Entry]) -> dict[str, list[Any]]:
    """Every value of every parameter, for the grid sampler."""
    grid: dict[str, list[Any]] = {}
    for name, entry in space.items():
        if isinstance(entry, CategoricalParam):
            grid[name] = list(entry.choices)
        elif isinstance(entry, IntParam):
            if entry.log:
                raise SpecError(f"space.{name}", "the grid sampler cannot walk a log range; list the values with choices")
            grid[name] = list(range(entry.low, entry.high + 1, entry.step))
        elif isinstance(entry, FloatParam):
            if entry.step is None or entry.log:
                raise SpecError(f"space.{name}", "the grid sampler needs a step (and no log) on float parameters")
            n = int(round((entry.high - entry.low) / entry.step))
            grid[name] = [round(entry.low + i * entry.step, 12) for i in range(n + 1)]
        elif not isinstance(entry, FixedParam):  # pragma: no cover - the union is closed
            raise TypeError(entry)
    return grid
