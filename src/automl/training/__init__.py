"""The training engine: data, models, optimisers, k-fold CV in lockstep, gradient health.

Pure PyTorch and scikit-learn; imports neither Optuna nor Celery. The worker calls
:func:`cross_validate` with a :class:`Reporter`; export calls :func:`fit_final`.

Its names are imported when first used, so that importing one module of the package (the
checkpoint format, say) does not import scikit-learn and every other module with it.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automl.studyfile.trainer_params import TrainParams
    from automl.training.checkpoint import Checkpoints, request_preemption
    from automl.training.crossval import TrialResult, cross_validate
    from automl.training.data import DataCache, Dataset, infer_task, load_dataset
    from automl.training.final import FinalFit, fit_final, predict
    from automl.training.folds import cv_splits
    from automl.training.preprocess import Preprocessor
    from automl.training.reporter import NullReporter, Reporter

_WHERE = {
    "TrainParams": "automl.studyfile.trainer_params", "Checkpoints": "automl.training.checkpoint",
    "request_preemption": "automl.training.checkpoint", "DataCache": "automl.training.data",
    "Dataset": "automl.training.data", "infer_task": "automl.training.data",
    "load_dataset": "automl.training.data", "FinalFit": "automl.training.final",
    "fit_final": "automl.training.final", "predict": "automl.training.final",
    "cv_splits": "automl.training.folds", "Preprocessor": "automl.training.preprocess",
    "NullReporter": "automl.training.reporter", "Reporter": "automl.training.reporter",
    "TrialResult": "automl.training.crossval", "cross_validate": "automl.training.crossval",
}  # fmt: skip
__all__ = [
    "Checkpoints",
    "DataCache",
    "Dataset",
    "FinalFit",
    "NullReporter",
    "Preprocessor",
    "Reporter",
    "TrainParams",
    "TrialResult",
    "cv_splits",
    "fit_final",
    "infer_task",
    "load_dataset",
    "predict",
    "request_preemption",
    "cross_validate",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'automl.training' has no attribute {name!r}")
    return getattr(import_module(_WHERE[name]), name)
