"""The study file as frozen, typed objects (pydantic v2): the root (:class:`StudySpec`).

Every section of the study file (README, "The study file") has one model, here or in
:mod:`automl.studyfile.sections` (the objective and a constraint's bound:
:mod:`automl.studyfile.objective`). Unknown keys are errors everywhere except in sampler and
pruner options, which are checked against Optuna's own signatures by :mod:`automl.search`.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from automl.studyfile.objective import Bound, Objective
from automl.studyfile.program import MetricSource, TensorBoardSource, TrainCommand
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
    TrainerSpec,
)
from automl.studyfile.space import CategoricalParam, FixedParam, SpaceEntry
from automl.studyfile.vocabulary import SKLEARN_SOURCES, CostMetric, Direction, Metric, Task

# ``train: python:package.module:function``
TRAIN_FUNCTION = re.compile(r"^python:([A-Za-z_][\w.]*):([A-Za-z_]\w*)$")


class StudySpec(Frozen):
    name: str = Field(pattern=r"^[\w.-]{1,100}$")
    storage: str = "sqlite:///automl.db"
    # One objective, or a list of them (a multi-objective study: its best trials are a front).
    objective: Objective | list[Objective]
    constraints: dict[str, Bound] = Field(default_factory=dict)
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
                f"{train!r}: write python:package.module:function, or {{command: "
                f"[program, args...]}}"
            )
        return train

    @model_validator(mode="after")
    def _check_task(self) -> StudySpec:
        _check_objectives(self)
        if self.train is not None:
            given = {
                "data": self.data is not None,
                "model": self.model != ModelSpec(),
                "trainer": self.trainer != TrainerSpec(),
            }
            extra = [name for name, there in given.items() if there]
            if extra:
                raise ValueError(
                    f"train: your own code replaces {', '.join(extra)}; leave {extra[0]} out"
                )
            for path, objective in self._objective_paths():
                if objective.is_cost:
                    raise ValueError(
                        f"{path}.metric: {objective.name} is a model cost of the built-in trainer; "
                        "your own code reports its own metrics (name it anything else)"
                    )
                if objective.direction is None:
                    raise ValueError(
                        f"{path}.direction: say maximize or minimize for your metric "
                        f"{objective.name!r}"
                    )
            return self
        if self.data is None:
            raise ValueError("data: say what to train on (or give train: to run your own code)")
        for path, objective in self._objective_paths():
            if not isinstance(objective.metric, (Metric, CostMetric)):
                known = ", ".join(m.value for m in [*Metric, *CostMetric])
                raise ValueError(
                    f"{path}.metric: {objective.metric!r} is not a metric of the built-in trainer "
                    f"({known}); your own metric needs train: your own code"
                )
        quality = [o.metric for o in self.objectives if isinstance(o.metric, Metric)]
        if not quality:
            raise ValueError(
                "objective: name at least one metric of the model's predictions "
                "(accuracy, rmse, ...) besides its cost"
            )
        tasks = {metric.task for metric in quality}
        if len(tasks) > 1:
            raise ValueError(
                "objective: the metrics mix classification and regression; one data set "
                "has one task"
            )
        task = tasks.pop()
        if self.data.task is not None and self.data.task != task:
            raise ValueError(
                f"objective.metric {quality[0].value} is for {task.value}, "
                f"but the data is a {self.data.task.value} task"
            )
        return self

    def _objective_paths(self) -> list[tuple[str, Objective]]:
        if isinstance(self.objective, Objective):
            return [("objective", self.objective)]
        return [(f"objective.{i}", o) for i, o in enumerate(self.objective)]

    @property
    def objectives(self) -> tuple[Objective, ...]:
        """Every objective, in the order of the study file (one for a single-objective study)."""
        return (self.objective,) if isinstance(self.objective, Objective) else tuple(self.objective)

    @property
    def multi(self) -> bool:
        """True when the study has several objectives (Optuna's ``directions``, a Pareto front)."""
        return len(self.objectives) > 1

    @property
    def objective_names(self) -> list[str]:
        return [o.name for o in self.objectives]

    @property
    def primary(self) -> Objective:
        """The objective that orders epochs (best epoch, early stopping) and names the score
        of an export: the first one that is not a model cost."""
        return next((o for o in self.objectives if not o.is_cost), self.objectives[0])

    def describe_objectives(self) -> str:
        """``accuracy (maximize), params (minimize); params <= 50000`` for people to read."""
        text = ", ".join(
            f"{o.name} ({o.direction.value if o.direction else '?'})" for o in self.objectives
        )
        bounds = [
            f"{name} {'<=' if side == 'max' else '>='} {limit:g}"
            for name, bound in self.constraints.items()
            for side, limit in (("min", bound.min), ("max", bound.max)) if limit is not None
        ]  # fmt: skip
        return text + (f"; {', '.join(bounds)}" if bounds else "")

    @property
    def cost_metrics(self) -> list[CostMetric]:
        """The model-cost metrics the built-in trainer must count: objectives and constraints."""
        names = [*self.objective_names, *self.constraints]
        return [c for c in CostMetric if c.value in names]

    @property
    def direction(self) -> Direction:
        """The direction of :attr:`primary` (the only one of a single-objective study)."""
        assert self.primary.direction is not None  # set by Objective's validator
        return self.primary.direction

    @property
    def own_code(self) -> bool:
        """True when ``train:`` runs the user's own code instead of the built-in trainer."""
        return self.train is not None

    @property
    def dataset(self) -> DataSpec:
        """The data section (the built-in trainer's studies always have one)."""
        assert self.data is not None, "a study with train: has no data section"
        return self.data


def _check_objectives(spec: StudySpec) -> None:
    """Names are unique; a list has at least one entry; a constraint names a metric there is."""
    if isinstance(spec.objective, list) and not spec.objective:
        raise ValueError("objective: give at least one {metric: ...}")
    seen: set[str] = set()
    for path, objective in spec._objective_paths():  # noqa: SLF001 - StudySpec's helper, in its own module
        if objective.name in seen:
            raise ValueError(
                f"{path}.metric: {objective.name!r} is already an objective; each metric once"
            )
        seen.add(objective.name)
    cost = {c.value for c in CostMetric} if not spec.own_code else set()
    for name in spec.constraints:
        if name not in seen and name not in cost:
            allowed = ", ".join(sorted(seen | cost))
            raise ValueError(
                f"constraints.{name}: not an "
                f"objective{' or a model cost' if cost else ''} of this study ({allowed})"
            )


# Re-exported so that the schema reads as one place: `from automl.studyfile.schema import Metric`.
__all__ = [
    "SKLEARN_SOURCES",
    "BackendKind",
    "Bound",
    "CVSpec",
    "CostMetric",
    "CategoricalParam",
    "DataSpec",
    "Direction",
    "EarlyStopping",
    "ExecutionSpec",
    "FixedParam",
    "Metric",
    "ModelSpec",
    "Objective",
    "Precision",
    "Preprocess",
    "PrunerSpec",
    "SamplerSpec",
    "SearchSpec",
    "StudySpec",
    "Task",
    "TrackingSpec",
    "MetricSource",
    "TensorBoardSource",
    "TrainCommand",
    "TrainerSpec",
]
