"""Checks of a parsed study file that span several fields.

Parameter names and values against the built-in trainer's vocabulary
(:mod:`automl.studyfile.trainer_params`), ``when`` references, enqueued points and the grid.
"""

from __future__ import annotations

import difflib
from typing import Any

from automl.errors import SpecError
from automl.studyfile import schema as m
from automl.studyfile import trainer_params as tp
from automl.studyfile.program import BUILT_IN_PLACEHOLDERS, TrainCommand
from automl.studyfile.space import (
    CategoricalParam,
    FixedParam,
    FloatParam,
    IntParam,
    is_active,
    same_value,
)

# Pruners and samplers that take one objective only (Optuna's, or ours for several).
SINGLE_OBJECTIVE_PRUNERS = ("patient", "threshold", "wilcoxon")
SINGLE_OBJECTIVE_SAMPLERS = ("cmaes",)


def check_semantics(spec: m.StudySpec) -> None:
    """Checks that span several fields: parameter names, ``when`` references, enqueue points."""
    if isinstance(spec.train, TrainCommand):
        _check_program(spec, spec.train)
    if spec.multi and spec.search.pruner.type in SINGLE_OBJECTIVE_PRUNERS:
        raise SpecError(
            "search.pruner", f"{spec.search.pruner.type} prunes on one objective; with several use "
            "hyperband, successive_halving, median, percentile or none",
        )  # fmt: skip
    if spec.multi and spec.search.sampler.type in SINGLE_OBJECTIVE_SAMPLERS:
        raise SpecError(
            "search.sampler",
            f"{spec.search.sampler.type} samples for one objective; with several use "
            "tpe, nsga2, nsga3, gp or random",
        )
    defined: dict[str, Any] = {}
    for name, entry in spec.space.items():
        path = f"space.{name}"
        if not spec.own_code and not spec.model.is_user_builder and name not in tp.TRAINER_PARAMS:
            close = difflib.get_close_matches(name, sorted(tp.TRAINER_PARAMS), n=1, cutoff=0.7)
            raise SpecError(
                path,
                "unknown parameter for the built-in trainer",
                hint=f"did you mean {close[0]!r}?"
                if close
                else "name a python: model builder to use your own parameters",
            )
        _check_trainer_value(path, name, entry, spec)
        for other, allowed in entry.condition().items():
            if other not in defined:
                where = (
                    "is not defined"
                    if other not in spec.space
                    else f"must be defined above {name!r}"
                )
                raise SpecError(f"{path}.when.{other}", f"parameter {other!r} {where}")
            for value in allowed:
                if not _can_take(defined[other], value):
                    raise SpecError(f"{path}.when.{other}", f"{other!r} can never be {value!r}")
        defined[name] = entry
    for i, point in enumerate(spec.search.enqueue):
        for name, value in point.items():
            ppath = f"search.enqueue.{i}.{name}"
            if name not in spec.space:
                raise SpecError(ppath, "is not a parameter of the space")
            entry = spec.space[name]
            if isinstance(entry, FixedParam):
                raise SpecError(ppath, "is a fixed parameter; it cannot be enqueued")
            if not _can_take(entry, value):
                raise SpecError(ppath, f"{value!r} is outside the space of {name!r}")
        active: dict[str, Any] = {}
        for name, entry in spec.space.items():
            if is_active(entry, active):
                active[name] = point.get(name, getattr(entry, "value", None))
        inactive = sorted(set(point) - set(active))
        if inactive:
            raise SpecError(
                f"search.enqueue.{i}.{inactive[0]}",
                "its `when:` condition does not hold for this point",
            )
    if spec.search.sampler.type == "grid" and any(
        isinstance(e, FloatParam) and e.step is None for e in spec.space.values()
    ):
        raise SpecError(
            "search.sampler.type",
            "grid needs every float parameter to have a step (or use choices)",
        )


def _check_program(spec: m.StudySpec, train: TrainCommand) -> None:
    """Placeholders and renames name params; metric sources match the objectives."""
    known = set(spec.space) | set(BUILT_IN_PLACEHOLDERS)
    for name in train.placeholders():
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.7)
            raise SpecError(
                "train.command",
                f"{{{name}}} names no param (params: {', '.join(sorted(spec.space)) or 'none'}; "
                f"also {', '.join('{' + p + '}' for p in BUILT_IN_PLACEHOLDERS)})",
                hint=f"did you mean {{{close[0]}}}?" if close else None,
            )
    for name in train.rename:
        if name not in spec.space:
            raise SpecError(f"train.rename.{name}", "is not a param of the space")
    sources = train.sources()
    names = spec.objective_names
    if "" in sources and spec.multi:
        raise SpecError(
            "train.metric",
            f"the study has several objectives; give one entry per objective ({', '.join(names)})",
        )
    if sources and "" not in sources:
        for name in sources:
            if name not in names:
                raise SpecError(
                    f"train.metric.{name}",
                    f"is not an objective of this study ({', '.join(names)})",
                )
        missing = [n for n in names if n not in sources]
        if missing:
            raise SpecError(
                f"train.metric.{missing[0]}",
                "give this objective a pattern or a tensorboard tag too",
            )


def _check_trainer_value(path: str, name: str, entry: Any, spec: m.StudySpec) -> None:
    """A range, choice or value of a built-in parameter that the trainer cannot use."""
    if spec.own_code or name not in tp.TRAINER_PARAMS:
        return
    if spec.model.is_user_builder and name in tp.MODEL_PARAMS:
        return  # the builder's own parameter: its domain is the builder's
    if name in tp.TRAINER_CHOICES and isinstance(entry, (FloatParam, IntParam)):
        raise SpecError(path, f"{name} takes names, not numbers; write `choices: [...]`")
    if isinstance(entry, (FloatParam, IntParam)):
        values: list[Any] = [entry.low, entry.high]
    elif isinstance(entry, CategoricalParam):
        values = list(entry.choices)
    else:
        values = [entry.value]
    for value in values:
        problem = tp.value_problem(name, value)
        if problem:
            raise SpecError(path, problem)


def _can_take(entry: Any, value: Any) -> bool:
    """Could this space entry produce ``value``?"""
    if isinstance(entry, FixedParam):
        return same_value(entry.value, value)
    if isinstance(entry, CategoricalParam):
        return any(same_value(c, value) for c in entry.choices)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(entry, IntParam) and not float(value).is_integer():
        return False
    return bool(entry.low <= value <= entry.high)
