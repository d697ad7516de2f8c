"""The study file: YAML in, frozen typed objects out. Imports neither Optuna nor Celery."""

from automl.studyfile.duration import format_duration, parse_duration
from automl.studyfile.load import as_mapping, load_spec, parse_spec
from automl.studyfile.schema import (
    BackendKind,
    DataSpec,
    Direction,
    ExecutionSpec,
    Metric,
    ModelSpec,
    Objective,
    Precision,
    Preprocess,
    PrunerSpec,
    SamplerSpec,
    SearchSpec,
    StudySpec,
    Task,
    TrainerSpec,
)
from automl.studyfile.space import complete_params, describe, suggest_params

__all__ = [
    "BackendKind", "DataSpec", "Direction", "ExecutionSpec", "Metric", "ModelSpec", "Objective",
    "Precision", "Preprocess", "PrunerSpec", "SamplerSpec", "SearchSpec", "StudySpec", "Task",
    "TrainerSpec", "as_mapping", "complete_params", "describe", "format_duration", "load_spec",
    "parse_duration", "parse_spec", "suggest_params",
]  # fmt: skip
