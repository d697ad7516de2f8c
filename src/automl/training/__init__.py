"""The training engine: data, models, optimisers, k-fold CV in lockstep, gradient health.

Pure PyTorch and scikit-learn; imports neither Optuna nor Celery. The worker calls
:func:`cross_validate` with a :class:`Reporter`; export calls :func:`fit_final`.
"""

from automl.studyfile.trainer_params import TrainParams
from automl.training.checkpoint import Checkpoints, request_preemption
from automl.training.data import DataCache, Dataset, infer_task, load_dataset
from automl.training.final import FinalFit, fit_final, predict
from automl.training.folds import cv_splits
from automl.training.preprocess import Preprocessor
from automl.training.reporter import NullReporter, Reporter
from automl.training.trial import TrialResult, cross_validate

__all__ = [
    "Checkpoints", "DataCache", "Dataset", "FinalFit", "NullReporter", "Preprocessor", "Reporter", "TrainParams",
    "TrialResult", "cv_splits", "fit_final", "infer_task", "load_dataset", "predict", "request_preemption", "cross_validate",
]  # fmt: skip
