"""Optuna pruners from the study file's ``search.pruner`` section."""

from __future__ import annotations

from typing import Any

import optuna
from pydantic import ValidationError

from automl.errors import SpecError
from automl.search.options import construct
from automl.search.pareto_pruners import (
    ParetoHyperband,
    ParetoPercentile,
    ParetoRanking,
    ParetoSuccessiveHalving,
)
from automl.studyfile.schema import PrunerSpec, StudySpec

_PRUNERS: dict[str, Any] = {
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "patient": optuna.pruners.PatientPruner,
    "threshold": optuna.pruners.ThresholdPruner,
    "wilcoxon": optuna.pruners.WilcoxonPruner,
    "none": optuna.pruners.NopPruner,
}


def build_pruner(spec: PrunerSpec, path: str = "search.pruner") -> optuna.pruners.BasePruner:
    """The Optuna pruner named by ``spec``.

    ``patient`` wraps another pruner given as ``wrapped: {type: median, ...}`` (none by default),
    and ``percentile`` needs ``percentile:``.

    >>> build_pruner(PrunerSpec(type="hyperband", min_resource=2)).__class__.__name__
    'HyperbandPruner'
    """
    options = spec.options()
    if spec.type == "patient":
        wrapped = options.pop("wrapped", None)
        if "patience" not in options:
            raise SpecError(
                f"{path}.patience", "the patient pruner needs patience (epochs without improvement)"
            )
        inner = None
        if wrapped is not None:
            try:
                inner_spec = PrunerSpec.model_validate(wrapped)
            except ValidationError:
                raise SpecError(
                    f"{path}.wrapped", "must be a pruner, e.g. {type: median}"
                ) from None
            inner = build_pruner(inner_spec, f"{path}.wrapped")
        return construct(
            _PRUNERS["patient"], options, path, "patient pruner", {"wrapped_pruner": inner}
        )
    if spec.type == "percentile" and "percentile" not in options:
        raise SpecError(f"{path}.percentile", "the percentile pruner needs percentile (0-100)")
    return construct(_PRUNERS[spec.type], options, path, f"{spec.type} pruner")


def study_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    """The pruner of a study: Optuna's for one objective, a Pareto pruner for several
    (:mod:`automl.search.pareto_pruners`); the study file's options either way."""
    if not spec.multi:
        return build_pruner(spec.search.pruner)
    path, options = "search.pruner", spec.search.pruner.options()
    ranking = ParetoRanking(
        spec.objective_names, [o.maximize for o in spec.objectives], spec.constraints
    )
    kind = spec.search.pruner.type
    built: dict[str, Any] = {"ranking": ranking}
    if kind == "hyperband":
        if "max_resource" not in options and not spec.own_code:
            # what Optuna infers from the first complete trial
            built["max_resource"] = spec.trainer.epochs
        return construct(ParetoHyperband, options, path, "hyperband pruner", built)
    if kind == "successive_halving":
        return construct(ParetoSuccessiveHalving, options, path, "successive_halving pruner", built)
    if kind in ("median", "percentile"):
        if kind == "median":
            built["percentile"] = 50.0
        elif "percentile" not in options:
            raise SpecError(f"{path}.percentile", "the percentile pruner needs percentile (0-100)")
        return construct(ParetoPercentile, options, path, f"{kind} pruner", built)
    if kind == "none":
        return optuna.pruners.NopPruner()
    raise SpecError(
        path,
        f"{kind} prunes on one objective; with several use hyperband, "
        "successive_halving, median, percentile or none",
    )
