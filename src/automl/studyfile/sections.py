"""The sections of the study file below its root: data, model, trainer, search, execution,
tracking and ``train:`` as a program. :mod:`automl.studyfile.schema` puts them together."""

from __future__ import annotations

import re
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from automl.studyfile.duration import parse_duration
from automl.studyfile.space import Scalar
from automl.studyfile.vocabulary import SKLEARN_SOURCES, Task


class Frozen(BaseModel):
    """Every section: unknown keys are errors, and the parsed study never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CVSpec(Frozen):
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


class DataSpec(Frozen):
    source: str
    target: str | None = None
    task: Task | None = None
    test_size: float = Field(0.2, gt=0.0, lt=1.0)
    cv: CVSpec = CVSpec()
    preprocess: Preprocess = Preprocess.STANDARDIZE
    options: dict[str, Scalar] = Field(default_factory=dict)
    # csv columns to leave out (ids, dates, free text)
    drop: list[str] = Field(default_factory=list)

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
        if self.options and self.source not in (
            "sklearn:make_classification",
            "sklearn:make_regression",
        ):
            raise ValueError(
                "`options:` only applies to sklearn:make_classification and sklearn:make_regression"
            )
        if kind == "sklearn":
            known = SKLEARN_SOURCES[self.source.split(":", 1)[1]]
            if self.task is not None and self.task != known:
                raise ValueError(
                    f"{self.source} is a {known.value} data set, but task is {self.task.value}"
                )
            object.__setattr__(self, "task", known)
        return self


class ModelSpec(Frozen):
    family: str = "mlp"

    @field_validator("family")
    @classmethod
    def _check_family(cls, family: str) -> str:
        if family in ("mlp", "cnn") or re.match(r"^python:[\w.]+:\w+$", family):
            return family
        raise ValueError(
            f"unknown model family {family!r}; use mlp, cnn or python:<module>:<builder>"
        )

    @property
    def is_user_builder(self) -> bool:
        return self.family.startswith("python:")


class EarlyStopping(Frozen):
    patience: int = Field(ge=1)
    min_delta: float = Field(0.0, ge=0.0)


class Precision(str, Enum):
    AUTO = "auto"
    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"


class TrainerSpec(Frozen):
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
                raise ValueError(
                    f"a number of epochs must be >= 1, but got {every}; write none to "
                    "turn checkpoints off"
                )
            return every
        if not isinstance(every, str):
            raise ValueError(
                f"{every!r}: write a duration such as 60s or 5m, a whole number of epochs, or none"
            )
        text = every.strip().lower()
        if text == "none":
            return text
        if text.isdigit():
            return cls._check_checkpoint_every(int(text))
        if parse_duration(text) <= 0:
            raise ValueError(
                f"{every!r}: a duration must be > 0; write none to turn checkpoints off"
            )
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
    type: Literal["tpe", "random", "grid", "cmaes", "gp", "qmc", "nsga2", "nsga3"] = "tpe"


class PrunerSpec(_Options):
    type: Literal[
        "median", "percentile", "successive_halving", "hyperband", "patient", "threshold",
        "wilcoxon", "none",
    ] = "median"  # fmt: skip


Seconds = Annotated[float, BeforeValidator(parse_duration)]


class SearchSpec(Frozen):
    sampler: SamplerSpec = SamplerSpec()
    pruner: PrunerSpec = PrunerSpec()
    n_trials: int = Field(20, ge=1)
    timeout: Seconds | None = Field(None, gt=0)
    max_failed_trials: int | None = Field(5, ge=1)
    enqueue: list[dict[str, Scalar]] = Field(default_factory=list)


class BackendKind(str, Enum):
    LOCAL = "local"
    CELERY = "celery"


class ExecutionSpec(Frozen):
    backend: BackendKind = BackendKind.LOCAL
    parallelism: int = Field(1, ge=1, le=1024)
    broker: str | None = None
    queue: str = Field("automl", pattern=r"^[\w.-]+$")
    trial_retries: int = Field(2, ge=0, le=100)
    # Where trial checkpoints go: a folder (shared by the fleet) or s3://bucket/prefix.
    # Default: a folder beside a SQLite or journal-file storage; elsewhere none.
    checkpoints: str | None = None


class MlflowSpec(Frozen):
    tracking_uri: str = "sqlite:///mlflow.db"  # a file store (file:./mlruns) needs no server either
    experiment: str | None = None  # default: the study name


class WandbSpec(Frozen):
    project: str | None = None  # default: the study name
    entity: str | None = None
    mode: Literal["online", "offline"] = "offline"
    dir: str = "."


class TensorboardSpec(Frozen):
    log_dir: str = "runs"


class TrackingSpec(Frozen):
    """Where each trial is also logged as a run. The Optuna storage stays the record."""

    mlflow: MlflowSpec | None = None
    wandb: WandbSpec | None = None
    tensorboard: TensorboardSpec | None = None
