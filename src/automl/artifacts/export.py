"""`automl export`: retrain a trial's configuration and save everything `automl predict` needs.

An export folder holds:

* ``model.safetensors``: the weights (a plain state_dict; no code is stored in it); with
  ``--quantize int8`` the Linear and Conv weights as int8 plus float32 scales (:mod:`.int8`);
* ``model.json``: how to rebuild the network (family, params, input shape, outputs, how many
  ensemble members, the widths of a pruned one, the precision), the task, the class labels,
  the feature names and categorical vocabularies;
* ``preprocessor.json`` and ``preprocessor.safetensors``: the fitted preprocessing as numbers
  (imputation values, scaling, categories; no pickle anywhere in an export);
* ``study.json``: the resolved study file (credentials masked);
* ``metrics.json``: the test metric, the cross-validated one, the trial and epochs, the
  weights' size and the latency per row, and with ``--quantize``/``--prune`` the same figures
  of the float model before compression (``float``).

Which trial is exported is :func:`automl.artifacts.choose.trial_to_export`'s rule.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna

from automl.artifacts.choose import objective_values, primary_value, trial_to_export
from automl.artifacts.measure import Figures
from automl.artifacts.predict import FORMAT_VERSION
from automl.errors import UsageError
from automl.search.attrs import best_epoch_of
from automl.search.series import fold_scores_of
from automl.search.study import stored_spec
from automl.studyfile.schema import StudySpec
from automl.studyfile.space import complete_params

if TYPE_CHECKING:  # torch only when export runs, not when the command is imported
    from torch import nn

    from automl.training import Dataset, Preprocessor

QUANTISATIONS = ("int8",)
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
    test_score: float  # of the exported model, compressed or not
    cv_score: float  # the trial's value on the primary objective
    trial: int
    epochs: int
    ensemble: int
    size_bytes: int = 0  # of model.safetensors
    latency_ms: float = 0.0  # one row, one CPU thread (measure.latency_ms)
    precision: str = "fp32"  # or "int8"
    pruned: float = 0.0  # the fraction of hidden units or channels removed
    float_model: Figures | None = None  # before --quantize and --prune (only with either)
    objectives: dict[str, float | int] | None = None  # by name, when the study has several
    metrics: dict[str, Any] = field(default_factory=dict)  # what metrics.json holds

    def as_json(self) -> dict[str, Any]:
        """Everything in metrics.json, with the folder and the scores under their result names."""
        return {
            **self.metrics,
            "folder": str(self.folder),
            "test_score": self.test_score,
            "cv_score": self.cv_score,
        }


def check_flags(
    spec: StudySpec, ensemble: int | None, quantize: str | None, prune: float | None
) -> None:
    """Refuse flags that cannot work, before anything trains or is written."""
    if ensemble is not None and ensemble < 1:
        raise UsageError(f"--ensemble must be at least 1, but got {ensemble}")
    if quantize is not None and quantize not in QUANTISATIONS:
        raise UsageError(
            f"--quantize: {quantize!r} is not a scheme export knows; use "
            f"{' or '.join(QUANTISATIONS)}"
        )
    if prune is None:
        return
    if not (math.isfinite(prune) and 0 < prune < 1):
        raise UsageError(f"--prune must be a fraction between 0 and 1 (exclusive), but got {prune}")
    if spec.model.is_user_builder:
        raise UsageError(
            f"--prune: the model is built by your code ({spec.model.family}), whose layers automl "
            "cannot shrink; leave --prune out (--quantize int8 works on any Linear and Conv layer)"
        )


def export_trial(
    study: optuna.Study,
    spec: StudySpec,
    folder: Path,
    ensemble: int | None = None,
    *,
    trial: int | None = None,
    quantize: str | None = None,
    prune: float | None = None,
) -> ExportResult:
    """Retrain a trial's params on all training rows for its best epoch count; save and measure.

    ``trial`` None takes :func:`trial_to_export`'s default. ``ensemble`` models are trained and
    averaged (:func:`default_ensemble` when None). ``prune`` removes that fraction of every
    member's hidden units or channels and fine-tunes (:mod:`automl.training.compress`), then
    ``quantize`` ("int8") stores the weights as int8.
    """
    import torch

    from automl.artifacts.int8 import float_bytes, save_weights
    from automl.artifacts.measure import latencies_ms, latency_ms, score_on
    from automl.artifacts.predict import load_export
    from automl.training import fit_final, load_dataset

    check_flags(spec, ensemble, quantize, prune)
    chosen = trial_to_export(study, spec, trial)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"-o: {str(folder)!r} exists and is not a folder")
    params = complete_params(spec.space, chosen.params)
    epochs = best_epoch_of(chosen) or spec.trainer.epochs
    dataset = load_dataset(spec.dataset, spec.primary.builtin.task)
    members = ensemble if ensemble is not None else default_ensemble(len(dataset.X_train))
    fit = fit_final(spec, params, epochs, dataset, ensemble=members)
    X_test = torch.from_numpy(fit.preprocessor.transform(dataset.X_test))
    compressed = quantize is not None or prune is not None
    # measured beside the compressed one
    original = copy.deepcopy(fit.model) if compressed else None
    widths = _prune(fit.model, prune, spec, params, dataset, epochs) if prune is not None else None
    folder.mkdir(parents=True, exist_ok=True)
    size = save_weights(fit.model, folder / "model.safetensors", int8=quantize == "int8")
    precision = quantize or "fp32"
    extra = {
        "precision": precision,
        "pruned": prune or 0.0,
        **({"widths": widths} if widths is not None else {}),
    }
    _write_folder(folder, spec, params, dataset, fit.preprocessor, members, extra)
    # A compressed model is measured as predict loads it: from the folder, int8 dequantised.
    model = load_export(folder, trust_code=True)[0] if compressed else fit.model
    before = None
    if original is None:
        test, latency = fit.test_score, latency_ms(model, X_test)
    else:
        test = score_on(
            model, spec.primary.builtin, X_test, dataset.y_test, dataset.n_classes, fit.preprocessor
        )
        latency, float_latency = latencies_ms([model, original], X_test)
        before = Figures(fit.test_score, float_bytes(original), float_latency)
    objectives = objective_values(chosen, spec) if spec.multi else None
    test, cv = float(test), primary_value(chosen, spec)
    metrics = {
        "metric": spec.primary.name,
        "test": test,
        "cv": cv,
        "cv_fold_scores": fold_scores_of(chosen),
        "trial": chosen.number,
        "epochs": epochs,
        "ensemble": members,
        "n_train": int(len(dataset.X_train)),
        "n_test": int(len(dataset.X_test)),
        "study": study.study_name,
        "size_bytes": size,
        "latency_ms": latency,
        "precision": precision,
        "pruned": prune or 0.0,
        **({"float": asdict(before)} if before is not None else {}),
        **({"objectives": objectives} if objectives is not None else {}),
    }
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return ExportResult(
        folder, spec.primary.name, test, cv, chosen.number, epochs, members,
        size_bytes=size, latency_ms=latency, precision=precision, pruned=prune or 0.0,
        float_model=before, objectives=objectives, metrics=metrics,
    )  # fmt: skip


def _write_folder(
    folder: Path,
    spec: StudySpec,
    params: dict[str, Any],
    dataset: Dataset,
    preprocessor: Preprocessor,
    members: int,
    extra: dict[str, Any],
) -> None:
    """model.json, the preprocessing and study.json (the weights are written already)."""
    from safetensors.numpy import save_file

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
        **extra,  # precision, pruned, and the widths of a pruned model
    }
    (folder / "model.json").write_text(json.dumps(model_info, indent=2))
    facts, arrays = preprocessor.state()
    (folder / "preprocessor.json").write_text(json.dumps(facts, indent=2))
    save_file(
        {k: np.ascontiguousarray(v) for k, v in arrays.items()},
        str(folder / "preprocessor.safetensors"),
    )
    # from an older export into the same folder
    (folder / "preprocessor.pkl").unlink(missing_ok=True)
    (folder / "study.json").write_text(json.dumps(stored_spec(spec), indent=2))


def export_best(
    study: optuna.Study, spec: StudySpec, folder: Path, ensemble: int | None = None
) -> ExportResult:
    """:func:`export_trial` of the default trial, uncompressed (what export did before
    ``--trial``)."""
    return export_trial(study, spec, folder, ensemble)


def _prune(
    model: nn.Module,
    fraction: float,
    spec: StudySpec,
    params: dict[str, Any],
    dataset: Dataset,
    epochs: int,
) -> list[int]:
    """Prune and fine-tune ``model`` in place on the training rows; the widths for model.json."""
    from automl.training.compress import prune_and_fine_tune
    from automl.training.device import resolve
    from automl.training.folds import whole_training_fold

    device = resolve(spec.trainer.device, spec.trainer.precision).device
    fold = whole_training_fold(dataset, spec.dataset, device)
    return prune_and_fine_tune(model, fraction, spec, params, fold, epochs)


def _json_safe(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value
