"""The final model for export: train on every training row, score once on the held-out test rows.

``automl export`` calls :func:`fit_final` with the best trial's params and epoch count, saves
``model`` and ``preprocessor`` (it pickles), and ``automl predict`` uses :func:`predict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from automl.spec import StudySpec, Task
from automl.training.data import Dataset, load_dataset
from automl.training.device import resolve
from automl.training.engine import EVAL_CHUNK, LoopEngine, Setup
from automl.training.folds import whole_training_fold
from automl.training.metrics import score, softmax
from automl.training.params import TrainParams
from automl.training.preprocess import Preprocessor


class FinalFit(NamedTuple):
    model: nn.Module  # on the CPU, in eval mode
    preprocessor: Preprocessor
    test_score: float  # objective.metric on the held-out test rows
    train_loss: list[float]  # per epoch


def fit_final(
    spec: StudySpec, params: Mapping[str, Any], epochs: int, dataset: Dataset | None = None
) -> FinalFit:
    """Train one model on all of ``dataset.X_train`` for ``epochs`` epochs; score it on the test rows.

    The learning-rate schedule spans ``max(epochs, trainer.epochs)``, so retraining for a
    trial's best epoch follows the same schedule that trial did. Seeded like fold 1 of a trial.
    """
    task = spec.objective.metric.task
    dataset = dataset if dataset is not None else load_dataset(spec.data, task)
    p = TrainParams.from_mapping(
        params, batch_size=spec.trainer.batch_size, model_params=not spec.model.is_user_builder
    )
    placement = resolve(spec.trainer.device, spec.trainer.precision)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.trainer.seed)
        fold = whole_training_fold(dataset, spec.data, placement.device)
        setup = Setup(spec, p, params, placement, task, dataset.input_shape, dataset.n_outputs,
                      max(epochs, spec.trainer.epochs))  # fmt: skip
        engine = LoopEngine(setup, [fold])
        losses = [engine.train_epoch()[0][0] for _ in range(epochs)]
        outputs = engine.predict_val()[0]
    test = score(spec.objective.metric, outputs, fold.y_val, dataset.n_classes, fold.preprocessor)
    model = engine.models[0].cpu().eval()
    return FinalFit(model, fold.preprocessor, test, losses)


@torch.inference_mode()
def predict(model: nn.Module, preprocessor: Preprocessor, X: np.ndarray) -> np.ndarray:
    """Predictions for raw feature rows (as in ``Dataset.X_*``).

    Classification: class probabilities, (N, n_classes); map ``argmax`` through
    ``Dataset.classes`` for labels. Regression: values in the target's own units, (N,).
    """
    model.eval()
    device = next(iter(model.parameters()), torch.empty(0)).device
    inputs = torch.from_numpy(preprocessor.transform(np.asarray(X, dtype=np.float32))).to(device)
    out = torch.cat(
        [model(inputs[i : i + EVAL_CHUNK]).float() for i in range(0, len(inputs), EVAL_CHUNK)]
    )
    raw = out.cpu().numpy()
    if preprocessor.task == Task.CLASSIFICATION:
        return softmax(raw)
    return preprocessor.inverse_target(raw.reshape(len(raw), -1)[:, 0])
