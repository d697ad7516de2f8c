"""The study file's words: tasks, directions, the built-in metrics and data sets."""

from __future__ import annotations

from enum import Enum


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


class CostMetric(str, Enum):
    """What a model of the built-in trainer costs, exact and the same on every machine.

    ``params``: trainable parameters; ``flops``: multiply-adds of a forward pass, per row.
    Lower is better; they are known from the first epoch on."""

    PARAMS = "params"
    FLOPS = "flops"

    @property
    def direction(self) -> Direction:
        return Direction.MINIMIZE


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
