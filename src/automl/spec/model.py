"""The study file as frozen, typed objects (pydantic v2).

Every section of the study file of ``shared/PRODUCT.md`` has one model here. Unknown keys are
errors everywhere except in sampler and pruner options, which are checked against Optuna's own
signatures by :mod:`automl.search`.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from automl.spec.duration import parse_duration
from automl.spec.space import CategoricalParam, FixedParam, ParamSpec, Scalar


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Task(str, Enum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


class Direction(str, Enum):
    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


class Metric(str, Enum):
    ACCURACY = "accuracy"
    BALANCED_ACCURACY = "balanced_accuracy"
    F1_MACRO = "f1_macro"
    ROC_AUC = "roc_auc"
    LOG_LOSS = "log_loss"
    MSE = "mse"
    RMSE = "rmse"
    MAE = "mae"
    R2 = "r2"

    @property
    def task(self) -> Task:
        return Task.REGRESSION if self in _REGRESSION_METRICS else Task.CLASSIFICATION

    @property
    def direction(self) -> Direction:
        return Direction.MINIMIZE if self in _LOWER_IS_BETTER else Direction.MAXIMIZE


_REGRESSION_METRICS = {Metric.MSE, Metric.RMSE, Metric.MAE, Metric.R2}
_LOWER_IS_BETTER = {Metric.LOG_LOSS, Metric.MSE, Metric.RMSE, Metric.MAE}

# The bundled scikit-learn data sets and generators, and the task each one poses.
SKLEARN_SOURCES: dict[str, Task] = {
    "digits": Task.CLASSIFICATION,
    "iris": Task.CLASSIFICATION,
    "wine": Task.CLASSIFICATION,
    "breast_cancer": Task.CLASSIFICATION,
    "diabetes": Task.REGRESSION,
    "make_classification": Task.CLASSIFICATION,
    "make_regression": Task.REGRESSION,
}

# Parameter names the built-in trainer understands (PRODUCT.md, "The study file").
TRAINER_PARAMS = frozenset(
    {
        "lr", "weight_decay", "l1", "dropout", "depth", "width", "activation", "batch_norm",
        "init", "optimizer", "momentum", "nesterov", "beta1", "beta2", "schedule",
        "warmup_epochs", "batch_size", "grad_clip", "label_smoothing", "channels", "kernel_size",
    }
)  # fmt: skip

# The values each numeric parameter of the built-in trainer can take: (low, high, whether high
# itself is allowed); low is always allowed, except for lr, which must be above 0.
TRAINER_DOMAINS: dict[str, tuple[float, float, bool]] = {
    "dropout": (0.0, 1.0, False), "label_smoothing": (0.0, 1.0, False),
    "momentum": (0.0, 1.0, False), "beta1": (0.0, 1.0, False), "beta2": (0.0, 1.0, False),
    "lr": (0.0, float("inf"), False), "weight_decay": (0.0, float("inf"), False),
    "l1": (0.0, float("inf"), False), "grad_clip": (0.0, float("inf"), False),
    "depth": (1, float("inf"), False), "width": (1, float("inf"), False),
    "channels": (1, float("inf"), False), "kernel_size": (1, float("inf"), False),
    "batch_size": (1, float("inf"), False), "warmup_epochs": (0, float("inf"), False),
}  # fmt: skip
# Those a python: model builder takes instead of the built-in trainer (their domain is its own).
MODEL_BUILDER_PARAMS = frozenset({"dropout", "depth", "width", "channels", "kernel_size"})

# Values the built-in trainer accepts for its categorical parameters.
TRAINER_CHOICES: dict[str, tuple[str, ...]] = {
    "optimizer": ("sgd", "adam", "adamw", "rmsprop"),
    "schedule": ("constant", "step", "exponential", "cosine", "onecycle"),
    "activation": ("relu", "gelu", "silu", "tanh", "leaky_relu", "elu"),
    "init": ("default", "kaiming", "xavier", "orthogonal"),
}


class Objective(_Frozen):
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


class CVSpec(_Frozen):
    folds: int = Field(5, ge=2, le=50)
    repeats: int = Field(1, ge=1, le=10)  # repeated k-fold: each repeat shuffles the rows anew
    stratified: bool = True
    seed: int = 0

    def describe(self) -> str:
        """``5-fold CV`` or ``5-fold CV x 3 repeats``."""
        return f"{self.folds}-fold CV" + (f" x {self.repeats} repeats" if self.repeats > 1 else "")


class Preprocess(str, Enum):
    NONE = "none"
    STANDARDIZE = "standardize"
    MINMAX = "minmax"


_SOURCE = re.compile(r"^(sklearn:[a-z_]+|csv:.+|npz:.+|python:[\w.]+:\w+)$")


class DataSpec(_Frozen):
    source: str
    target: str | None = None
    task: Task | None = None
    test_size: float = Field(0.2, gt=0.0, lt=1.0)
    cv: CVSpec = CVSpec()
    preprocess: Preprocess = Preprocess.STANDARDIZE
    options: dict[str, Scalar] = Field(default_factory=dict)
    drop: list[str] = Field(default_factory=list)  # csv columns to leave out (ids, dates, free text)

    @field_validator("source")
    @classmethod
    def _check_source(cls, source: str) -> str:
        if not _SOURCE.match(source):
            raise ValueError(
                f"{source!r} is not a data source; use sklearn:<name>, csv:<path>, npz:<path> "
                "or python:<module>:<function>"
            )
        if source.startswith("sklearn:") and source.split(":", 1)[1] not in SKLEARN_SOURCES:
            known = ", ".join(sorted(SKLEARN_SOURCES))
            raise ValueError(f"unknown scikit-learn data set {source!r}; known: {known}")
        return source

    @model_validator(mode="after")
    def _check(self) -> DataSpec:
        kind = self.source.split(":", 1)[0]
        if kind == "csv" and not self.target:
            raise ValueError("a csv source needs `target:` (the name of the label column)")
        if kind != "csv" and self.target:
            raise ValueError("`target:` only applies to csv sources")
        if kind != "csv" and self.drop:
            raise ValueError("`drop:` only applies to csv sources")
        if self.target and self.target in self.drop:
            raise ValueError(f"`drop:` names the target column {self.target!r}")
        if self.options and self.source not in ("sklearn:make_classification", "sklearn:make_regression"):
            raise ValueError("`options:` only applies to sklearn:make_classification and sklearn:make_regression")
        if kind == "sklearn":
            known = SKLEARN_SOURCES[self.source.split(":", 1)[1]]
            if self.task is not None and self.task != known:
                raise ValueError(f"{self.source} is a {known.value} data set, but task is {self.task.value}")
            object.__setattr__(self, "task", known)
        return self


class ModelSpec(_Frozen):
    family: str = "mlp"

    @field_validator("family")
    @classmethod
    def _check_family(cls, family: str) -> str:
        if family in ("mlp", "cnn") or re.match(r"^python:[\w.]+:\w+$", family):
            return family
        raise ValueError(f"unknown model family {family!r}; use mlp, cnn or python:<module>:<builder>")

    @property
    def is_user_builder(self) -> bool:
        return self.family.startswith("python:")


class EarlyStopping(_Frozen):
    patience: int = Field(ge=1)
    min_delta: float = Field(0.0, ge=0.0)


class Precision(str, Enum):
    AUTO = "auto"
    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"


class TrainerSpec(_Frozen):
    epochs: int = Field(30, ge=1, le=100_000)
    batch_size: int = Field(128, ge=1)
    early_stopping: EarlyStopping | None = None
    device: str = "auto"
    precision: Precision = Precision.AUTO
    seed: int = 0
    # How often a trial saves its whole state: a duration ("60s", "5m"), a whole number of
    # epochs (1 = every epoch), or "none". Where it goes is execution.checkpoints.
    checkpoint_every: int | str = "60s"

    @field_validator("checkpoint_every", mode="before")
    @classmethod
    def _check_checkpoint_every(cls, every: Any) -> int | str:
        if isinstance(every, int) and not isinstance(every, bool):
            if every < 1:
                raise ValueError(f"a number of epochs must be >= 1, but got {every}; write none to turn checkpoints off")
            return every
        if not isinstance(every, str):
            raise ValueError(f"{every!r}: write a duration such as 60s or 5m, a whole number of epochs, or none")
        text = every.strip().lower()
        if text == "none":
            return text
        if text.isdigit():
            return cls._check_checkpoint_every(int(text))
        if parse_duration(text) <= 0:
            raise ValueError(f"{every!r}: a duration must be > 0; write none to turn checkpoints off")
        return text

    @property
    def checkpoint_epochs(self) -> int | None:
        """Save every this many epochs (None: by time, or never)."""
        return self.checkpoint_every if isinstance(self.checkpoint_every, int) else None

    @property
    def checkpoint_seconds(self) -> float | None:
        """Save when this long has passed since the last save (None: by epochs, or never)."""
        every = self.checkpoint_every
        return None if isinstance(every, int) or every == "none" else float(parse_duration(every))

    @field_validator("device")
    @classmethod
    def _check_device(cls, device: str) -> str:
        if re.match(r"^(auto|cpu|cuda|cuda:\d+|mps)$", device):
            return device
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")


class _Options(BaseModel):
    """A sampler or pruner: ``type`` plus the options of that Optuna class."""

    model_config = ConfigDict(extra="allow", frozen=True)

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SamplerSpec(_Options):
    type: Literal["tpe", "random", "grid", "cmaes", "gp", "qmc", "nsga2"] = "tpe"


class PrunerSpec(_Options):
    type: Literal[
        "median", "percentile", "successive_halving", "hyperband", "patient", "threshold",
        "wilcoxon", "none",
    ] = "median"  # fmt: skip


Seconds = Annotated[float, BeforeValidator(parse_duration)]


class SearchSpec(_Frozen):
    sampler: SamplerSpec = SamplerSpec()
    pruner: PrunerSpec = PrunerSpec()
    n_trials: int = Field(20, ge=1)
    timeout: Seconds | None = Field(None, gt=0)
    max_failed_trials: int | None = Field(5, ge=1)
    enqueue: list[dict[str, Scalar]] = Field(default_factory=list)


class BackendKind(str, Enum):
    LOCAL = "local"
    CELERY = "celery"


class ExecutionSpec(_Frozen):
    backend: BackendKind = BackendKind.LOCAL
    parallelism: int = Field(1, ge=1, le=1024)
    broker: str | None = None
    queue: str = Field("automl", pattern=r"^[\w.-]+$")
    trial_retries: int = Field(2, ge=0, le=100)
    # Where trial checkpoints go: a folder (shared by the fleet) or s3://bucket/prefix.
    # Default: a folder beside a SQLite or journal-file storage; elsewhere none.
    checkpoints: str | None = None


class MlflowSpec(_Frozen):
    tracking_uri: str = "sqlite:///mlflow.db"  # a file store (file:./mlruns) needs no server either
    experiment: str | None = None  # default: the study name


class WandbSpec(_Frozen):
    project: str | None = None  # default: the study name
    entity: str | None = None
    mode: Literal["online", "offline"] = "offline"
    dir: str = "."


class TensorboardSpec(_Frozen):
    log_dir: str = "runs"


class TrackingSpec(_Frozen):
    """Where each trial is also logged as a run. The Optuna storage stays the record."""

    mlflow: MlflowSpec | None = None
    wandb: WandbSpec | None = None
    tensorboard: TensorboardSpec | None = None


class TrainCommand(_Frozen):
    """``train: {command: [...], timeout: 2h}``: any program, run once per trial."""

    command: list[str] = Field(min_length=1)
    timeout: Seconds | None = None  # per trial

    @field_validator("command")
    @classmethod
    def _check_command(cls, command: list[str]) -> list[str]:
        if not command[0].strip():
            raise ValueError("the program to run (the first item) is empty")
        return command

    @field_validator("timeout")
    @classmethod
    def _check_timeout(cls, timeout: float | None) -> float | None:
        if timeout is not None and timeout <= 0:
            raise ValueError(f"must be > 0, but got {timeout:g} s")
        return timeout


# ``train: python:package.module:function``
TRAIN_FUNCTION = re.compile(r"^python:([A-Za-z_][\w.]*):([A-Za-z_]\w*)$")


class StudySpec(_Frozen):
    name: str = Field(pattern=r"^[\w.-]{1,100}$")
    storage: str = "sqlite:///automl.db"
    objective: Objective
    # Either data (the built-in trainer: data, model, trainer) or train (the user's own code).
    data: DataSpec | None = None
    train: str | TrainCommand | None = None
    model: ModelSpec = ModelSpec()
    trainer: TrainerSpec = TrainerSpec()
    space: dict[str, ParamSpec] = Field(default_factory=dict)
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


# Re-exported so that callers can write `from automl.spec.model import FixedParam`.
__all__ = [
    "BackendKind", "CVSpec", "CategoricalParam", "DataSpec", "Direction", "EarlyStopping",
    "ExecutionSpec", "FixedParam", "Metric", "ModelSpec", "Objective", "Precision", "Preprocess",
    "PrunerSpec", "SamplerSpec", "SearchSpec", "StudySpec", "Task", "TrackingSpec", "TrainCommand",
    "TrainerSpec",
]  # fmt: skip
