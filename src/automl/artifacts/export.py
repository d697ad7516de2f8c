"""`automl export`: retrain the best configuration and save everything `automl predict` needs.

An export folder holds:

* ``model.safetensors``: the weights (a plain state_dict; no code is stored in it);
* ``model.json``: how to rebuild the network (family, params, input shape, outputs, how many
  ensemble members), the task, the class labels, the feature names and categorical vocabularies;
* ``preprocessor.json`` and ``preprocessor.safetensors``: the fitted preprocessing as numbers
  (imputation values, scaling, categories; no pickle anywhere in an export);
* ``study.json``: the resolved study file (credentials masked);
* ``metrics.json``: the test metric, the cross-validated one, the trial and epochs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from automl.errors import StudyFailedError, UsageError
from automl.search.attrs import best_epoch_of, fold_scores_of
from automl.search.outcomes import best_trial
from automl.search.study import stored_spec
from automl.studyfile.schema import StudySpec
from automl.studyfile.space import complete_params

FORMAT_VERSION = 2  # 2: the preprocessing as JSON + safetensors instead of a pickle
# Up to this many training rows, export averages ENSEMBLE_SMALL models by default: on small
# data the seed of one training run moves the test score, the average is steadier, and small
# data trains fast (benchmarks/bench_ensemble.py).
ENSEMBLE_MAX_ROWS = 20_000
ENSEMBLE_SMALL = 5


def default_ensemble(n_train: int) -> int:
    """How many models export trains when ``--ensemble`` is not given."""
    return ENSEMBLE_SMALL if n_train <= ENSEMBLE_MAX_ROWS else 1


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    metric: str
    test_score: float
    cv_score: float
    trial: int
    epochs: int
    ensemble: int


def export_best(
    study: optuna.Study, spec: StudySpec, folder: Path, ensemble: int | None = None
) -> ExportResult:
    """Retrain the best trial's params on all training rows for its best epoch count.

    ``ensemble`` models are trained and averaged (see :func:`default_ensemble` when None).
    """
    import torch
    from safetensors.numpy import save_file as save_numpy
    from safetensors.torch import save_file

    from automl.training import fit_final, load_dataset

    if ensemble is not None and ensemble < 1:
        raise UsageError(f"--ensemble must be at least 1, but got {ensemble}")
    best = best_trial(study)
    if best is None or best.value is None:
        raise StudyFailedError(f"study {study.study_name!r} has no complete trial to export yet")
    params = complete_params(spec.space, best.params)
    epochs = best_epoch_of(best) or spec.trainer.epochs
    dataset = load_dataset(spec.dataset, spec.primary.builtin.task)
    members = ensemble if ensemble is not None else default_ensemble(len(dataset.X_train))
    fit = fit_final(spec, params, epochs, dataset, ensemble=members)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"-o: {str(folder)!r} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in fit.model.state_dict().items() if isinstance(v, torch.Tensor)}
    save_file(state, str(folder / "model.safetensors"))
    model_info = {
        "format": FORMAT_VERSION,
        "family": spec.model.family,
        "params": params,
        "input_shape": list(dataset.input_shape),
        "n_outputs": dataset.n_outputs,
        "ensemble": members,
        "task": dataset.task.value,
        "classes": [_json_safe(c) for c in dataset.classes],
        "feature_names": list(dataset.feature_names),
        "target": spec.dataset.target,
        "categorical": {str(k): list(v) for k, v in dataset.categorical.items()},
        "metric": spec.primary.name,
    }
    (folder / "model.json").write_text(json.dumps(model_info, indent=2))
    facts, arrays = fit.preprocessor.state()
    (folder / "preprocessor.json").write_text(json.dumps(facts, indent=2))
    save_numpy({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(folder / "preprocessor.safetensors"))
    (folder / "preprocessor.pkl").unlink(missing_ok=True)  # from an older export into the same folder
    (folder / "study.json").write_text(json.dumps(stored_spec(spec), indent=2))
    result = ExportResult(folder, spec.primary.name, float(fit.test_score), float(best.value), best.number, epochs, members)
    metrics = {
        "metric": result.metric,
        "test": result.test_score,
        "cv": result.cv_score,
        "cv_fold_scores": fold_scores_of(best),
        "trial": best.number,
        "epochs": epochs,
        "ensemble": members,
        "n_train": int(len(dataset.X_train)),
        "n_test": int(len(dataset.X_test)),
        "study": study.study_name,
    }
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return result


def _json_safe(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value
