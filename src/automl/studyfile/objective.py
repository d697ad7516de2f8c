"""One objective of the study file (a metric and its direction) and one constraint's bound.

:class:`~automl.studyfile.schema.StudySpec` holds them (``objective:``, ``constraints:``) and
checks them across each other; :mod:`automl.studyfile.schema` re-exports both.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import field_validator, model_validator

from automl.studyfile.sections import Frozen
from automl.studyfile.vocabulary import CostMetric, Direction, Metric


class Objective(Frozen):
    # A built-in metric, a model-cost metric (params, flops), or (for a study whose `train:` is
    # the user's own code) any name.
    metric: Metric | CostMetric | str
    direction: Direction | None = None

    @field_validator("metric", mode="before")
    @classmethod
    def _known_metric(cls, metric: Any) -> Any:
        if isinstance(metric, str) and metric in Metric._value2member_map_:
            return Metric(metric)
        if isinstance(metric, str) and metric in CostMetric._value2member_map_:
            return CostMetric(metric)
        if isinstance(metric, str) and not re.fullmatch(r"[\w./-]{1,100}", metric):
            raise ValueError(f"{metric!r}: a metric name is letters, digits and _ . / - only")
        return metric

    @property
    def name(self) -> str:
        """The metric's name, built-in or the user's own."""
        return self.metric.value if isinstance(self.metric, (Metric, CostMetric)) else self.metric

    @property
    def is_cost(self) -> bool:
        """A model-cost metric (params, flops) of the built-in trainer."""
        return isinstance(self.metric, CostMetric)

    @property
    def maximize(self) -> bool:
        return self.direction == Direction.MAXIMIZE

    @property
    def builtin(self) -> Metric:
        """The built-in metric (the built-in trainer runs only with one; see StudySpec)."""
        assert isinstance(self.metric, Metric), "a study with train: has no built-in metric"
        return self.metric

    @model_validator(mode="after")
    def _infer_direction(self) -> Objective:
        if not isinstance(self.metric, (Metric, CostMetric)):
            return self  # your own code's metric: StudySpec checks that it has a direction
        if self.direction is None:
            object.__setattr__(self, "direction", self.metric.direction)
        elif self.direction != self.metric.direction:
            raise ValueError(
                f"{self.metric.value} is better when "
                f"{'lower' if self.metric.direction == Direction.MINIMIZE else 'higher'}, "
                f"so direction must be {self.metric.direction.value} (or left out)"
            )
        return self


class Bound(Frozen):
    """A constraint on one metric: at most ``max``, at least ``min`` (either or both)."""

    max: float | None = None
    min: float | None = None

    @model_validator(mode="after")
    def _one_side(self) -> Bound:
        if self.max is None and self.min is None:
            raise ValueError("give max, min or both, e.g. {max: 50000}")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def violations(self, value: float) -> dict[str, float]:
        """Optuna's constraint values by side: <= 0 where the bound holds."""
        out: dict[str, float] = {}
        if self.max is not None:
            out["max"] = value - self.max
        if self.min is not None:
            out["min"] = self.min - value
        return out
