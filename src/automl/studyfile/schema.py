"""The study file as frozen, typed objects (pydantic v2): the root and the objective.

Every section of the study file (README, "The study file") has one model, here or in
:mod:`automl.studyfile.sections`. Unknown keys are errors everywhere except in sampler and
pruner options, which are checked against Optuna's own signatures by :mod:`automl.search`.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from automl.studyfile.sections import (
    BackendKind,
    CVSpec,
    DataSpec,
    EarlyStopping,
    ExecutionSpec,
    Frozen,
    ModelSpec,
    Precision,
    Preprocess,
    PrunerSpec,
    SamplerSpec,
    SearchSpec,
    TrackingSpec,
    TrainCommand,
    TrainerSpec,
)
from automl.studyfile.space import CategoricalParam, FixedParam, SpaceEntry
from automl.studyfile.vocabulary import SKLEARN_SOURCES, Direction, Metric, Task


class Objective(Frozen):
    # A built-in metric, or (for a study whose `train:` is the user's own code) any name.
    metric: Metric | str
    direction: Direction | None = None

    @field_validator("metric", mode="before")
    @classmethod
    def _known_metric(cls, metric: Any) -> Any:
        if isinstance(metric, str) and metric in Metric._value2member_map_:
            return Metric(metric)
        if isinstance(metric, str) and not re.fullmatch(r"[\w./-]{1,100}", metric):
            raise ValueError(f"{metric!r}: a metric name is letters, digits and _ . / - only")
        return metric

    @property
    def name(self) -> str:
        """The metric's name, built-in or the user's own."""
        return self.metric.value if isinstance(self.metric, Metric) else self.metric

    @property
    def builtin(self) -> Metric:
        """The built-in metric (the built-in trainer runs only with one; see StudySpec)."""
        assert isinstance(self.metric, Metric), "a study with train: has no built-in metric"
        return self.metric

    @model_validator(mode="after")
    def _infer_direction(self) -> Objective:
        if not isinstance(self.metric, Metric):
            return self  # your own code's metric: StudySpec checks that it has a direction
        if self.direction is None:
            object.__setattr__(self, "direction", self.metric.direction)
        elif self.direction != self.metric.direction:
            raise ValueError(
                f"{self.metric.value} is better when {'lower' if self.metric.direction == Direction.MINIMIZE else 'higher'}, "
                f"so direction must be {self.metric.direction.value} (or left out)"
            )
        return self


# ``train: python:package.module:function``
TRAIN_FUNCTION = re.compile(r"^python:([A-Za-z_][\w.]*):([A-Za-z_]\w*)$")


class StudySpec(Frozen):
    name: str = Field(pattern=r"^[\w.-]{1,100}$")
    storage: str = "sqlite:///automl.db"
    objective: Objective
    # Either data (the built-in trainer: data, model, trainer) or train (the user's own code).
    data: DataSpec | None = None
    train: str | TrainCommand | None = None
    model: ModelSpec = ModelSpec()
    trainer: TrainerSpec = TrainerSpec()
    space: dict[str, SpaceEntry] = Field(default_factory=dict)
    search: SearchSpec = SearchSpec()
    execution: ExecutionSpec = ExecutionSpec()
    tracking: TrackingSpec = TrackingSpec()

    @field_validator("train")
    @classmethod
    def _check_train(cls, train: str | TrainCommand | None) -> str | TrainCommand | None:
        if isinstance(train, str) and not TRAIN_FUNCTION.match(train):
            raise ValueError(
                f"{train!r}: write python:package.module:function, or {{command: [program, args...]}}"
            )
        return train

    @model_validator(mode="after")
    def _check_task(self) -> StudySpec:
        if self.train is not None:
            given = {"data": self.data is not None, "model": self.model != ModelSpec(), "trainer": self.trainer != TrainerSpec()}
            extra = [name for name, there in given.items() if there]
            if extra:
                raise ValueError(f"train: your own code replaces {', '.join(extra)}; leave {extra[0]} out")
            if self.objective.direction is None:
                raise ValueError(
                    f"objective.direction: say maximize or minimize for your metric {self.objective.name!r}"
                )
            return self
        if self.data is None:
            raise ValueError("data: say what to train on (or give train: to run your own code)")
        if not isinstance(self.objective.metric, Metric):
            known = ", ".join(m.value for m in Metric)
            raise ValueError(
                f"objective.metric: {self.objective.metric!r} is not a metric of the built-in trainer "
                f"({known}); your own metric needs train: your own code"
            )
        if self.data.task is not None and self.data.task != self.objective.metric.task:
            raise ValueError(
                f"objective.metric {self.objective.metric.value} is for {self.objective.metric.task.value}, "
                f"but the data is a {self.data.task.value} task"
            )
        return self

    @property
    def direction(self) -> Direction:
        assert self.objective.direction is not None  # set by Objective's validator
        return self.objective.direction

    @property
    def own_code(self) -> bool:
        """True when ``train:`` runs the user's own code instead of the built-in trainer."""
        return self.train is not None

    @property
    def dataset(self) -> DataSpec:
        """The data section (the built-in trainer's studies always have one)."""
        assert self.data is not None, "a study with train: has no data section"
        return self.data


# Re-exported so that the schema reads as one place: `from automl.studyfile.schema import Metric`.
__all__ = [
    "SKLEARN_SOURCES", "BackendKind", "CVSpec", "CategoricalParam", "DataSpec", "Direction",
    "EarlyStopping", "ExecutionSpec", "FixedParam", "Metric", "ModelSpec", "Objective", "Precision",
    "Preprocess", "PrunerSpec", "SamplerSpec", "SearchSpec", "StudySpec", "Task", "TrackingSpec",
    "TrainCommand", "TrainerSpec",
]  # fmt: skip
