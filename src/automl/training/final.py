"""The final model for export: train on every training row, score once on the held-out test rows.

``automl export`` calls :func:`fit_final` with the best trial's params and epoch count, saves
``model`` and ``preprocessor`` (saved as numbers: Preprocessor.state), and ``automl predict`` uses
:func:`predict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from automl.studyfile import StudySpec, Task
from automl.studyfile.trainer_params import TrainParams
from automl.training.data import Dataset, load_dataset
from automl.training.device import resolve
from automl.training.engine import EVAL_CHUNK, Engine, LoopEngine, Setup
from automl.training.folds import whole_training_fold
from automl.training.metrics import score, softmax
from automl.training.models import Ensemble, stackable
from automl.training.preprocess import Preprocessor
from automl.training.stacked import StackedEngine


class FinalFit(NamedTuple):
    model: nn.Module  # on the CPU, in eval mode; an Ensemble when more than one was trained
    preprocessor: Preprocessor
    test_score: float  # objective.metric on the held-out test rows
    train_loss: list[float]  # per epoch, the mean over the ensemble's members


def fit_final(
    spec: StudySpec,
    params: Mapping[str, Any],
    epochs: int,
    dataset: Dataset | None = None,
    *,
    ensemble: int = 1,
) -> FinalFit:
    """Train on all of ``dataset.X_train`` for ``epochs`` epochs; score on the test rows.

    With ``ensemble`` > 1, that many models of the same configuration are trained, seeded like
    the folds of a trial (member 0 is the model a single fit gives), and the returned model
    averages their predictions. MLPs without batch norm train all members as one batched
    computation (as the folds of a trial do): 5 of them take about 3 times as long as one,
    not 5 times. Other families train the members one after another.

    The learning-rate schedule spans ``max(epochs, trainer.epochs)``, so retraining for a
    trial's best epoch follows the same schedule that trial did.
    """
    if ensemble < 1:
        raise ValueError(f"ensemble must be >= 1, but got {ensemble}.")
    task = spec.primary.builtin.task
    dataset = dataset if dataset is not None else load_dataset(spec.dataset, task)
    p = TrainParams.from_mapping(
        params, batch_size=spec.trainer.batch_size, model_params=not spec.model.is_user_builder
    )
    placement = resolve(spec.trainer.device, spec.trainer.precision)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.trainer.seed)
        fold = whole_training_fold(dataset, spec.dataset, placement.device)
        setup = Setup(spec, p, params, placement, task, dataset.input_shape, dataset.n_outputs,
                      max(epochs, spec.trainer.epochs))  # fmt: skip
        members = [fold] * ensemble  # the same rows; each member has its own seed and shuffles
        fast = ensemble > 1 and stackable(spec.model, p) and not placement.needs_scaler
        engine: Engine = StackedEngine(setup, members) if fast else LoopEngine(setup, members)
        losses = [float(np.mean(engine.train_epoch()[0])) for _ in range(epochs)]
        modules = [m.cpu().eval() for m in engine.fold_modules()]
    model = modules[0] if ensemble == 1 else Ensemble(modules, task == Task.CLASSIFICATION).eval()
    outputs = raw_outputs(model, fold.X_val.cpu())
    test = score(spec.primary.builtin, outputs, fold.y_val, dataset.n_classes, fold.preprocessor)
    return FinalFit(model, fold.preprocessor, test, losses)


@torch.inference_mode()
def raw_outputs(model: nn.Module, inputs: torch.Tensor) -> np.ndarray:
    """The model's outputs (logits or standardised values) on preprocessed rows, in chunks."""
    model.eval()
    device = next(iter(model.parameters()), torch.empty(0)).device
    chunks = [
        model(inputs[i : i + EVAL_CHUNK].to(device)).float().cpu()
        for i in range(0, len(inputs), EVAL_CHUNK)
    ]
    return torch.cat(chunks).numpy() if chunks else np.empty((0,), np.float32)


@torch.inference_mode()
def predict(model: nn.Module, preprocessor: Preprocessor, X: np.ndarray) -> np.ndarray:
    """Predictions for raw feature rows (as in ``Dataset.X_*``).

    Classification: class probabilities, (N, n_classes); map ``argmax`` through
    ``Dataset.classes`` for labels. Regression: values in the target's own units, (N,).
    """
    raw = raw_outputs(
        model, torch.from_numpy(preprocessor.transform(np.asarray(X, dtype=np.float32)))
    )
    if preprocessor.task == Task.CLASSIFICATION:
        return softmax(raw)
    return preprocessor.inverse_target(raw.reshape(len(raw), -1)[:, 0])
