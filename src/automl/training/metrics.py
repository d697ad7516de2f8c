"""Validation metrics, from scikit-learn, computed on a fold's raw model outputs.

Classification outputs are logits (one per class); regression outputs are in the fold's
standard units and are mapped back to the target's own units before scoring.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn import metrics as skm

from automl.studyfile import Metric
from automl.training.preprocess import Preprocessor


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def score(metric: Metric, outputs: np.ndarray, y_true: np.ndarray, n_classes: int,
          preprocessor: Preprocessor) -> float:  # fmt: skip
    """The metric of one fold. ``y_true``: class indices, or target values in their own units.

    >>> import numpy as np
    >>> from automl.studyfile import Preprocess, Task
    >>> pre = Preprocessor(Preprocess.NONE, Task.CLASSIFICATION, (1,), {})
    >>> score(Metric.ACCURACY, np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 0]), 2, pre)
    0.5
    """
    if metric.task.value == "regression":
        pred = preprocessor.inverse_target(outputs.reshape(len(outputs), -1)[:, 0])
        return _regression(metric, y_true.astype(np.float64), pred)
    proba = softmax(outputs.reshape(len(outputs), -1))
    labels = np.arange(n_classes)
    with warnings.catch_warnings():  # a fold may predict a class it does not contain
        warnings.simplefilter("ignore")
        if metric == Metric.ACCURACY:
            # What accuracy_score computes, without its input checks (a tenth of a fast trial).
            return float(np.mean(proba.argmax(1) == y_true))
        if metric == Metric.BALANCED_ACCURACY:
            return float(skm.balanced_accuracy_score(y_true, proba.argmax(1)))
        if metric == Metric.F1_MACRO:
            return float(skm.f1_score(y_true, proba.argmax(1), labels=labels, average="macro"))
        if metric == Metric.LOG_LOSS:
            return float(skm.log_loss(y_true, proba, labels=labels))
        if metric == Metric.ROC_AUC:
            if n_classes == 2:
                return float(skm.roc_auc_score(y_true, proba[:, 1]))
            return float(skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=labels))
    raise ValueError(f"{metric.value} is not a classification metric")


def _regression(metric: Metric, y_true: np.ndarray, pred: np.ndarray) -> float:
    if metric == Metric.MSE:
        return float(skm.mean_squared_error(y_true, pred))
    if metric == Metric.RMSE:
        return float(np.sqrt(skm.mean_squared_error(y_true, pred)))
    if metric == Metric.MAE:
        return float(skm.mean_absolute_error(y_true, pred))
    if metric == Metric.R2:
        return float(skm.r2_score(y_true, pred))
    raise ValueError(f"{metric.value} is not a regression metric")
