"""`automl predict`: predictions from an export folder, and the metric when labels are given."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from automl.errors import DataError, UsageError
from automl.studyfile.schema import Metric, ModelSpec, Task

# What export writes and predict reads. 2: the preprocessing as JSON + safetensors instead of a
# pickle; 3: int8 weights (named in the safetensors metadata) and a pruned model's widths.
FORMAT_VERSION = 3


@dataclass(frozen=True)
class Prediction:
    predictions: list[Any]  # a label or a value per row
    probabilities: np.ndarray | None  # classification: N x n_classes
    classes: list[Any]
    metric: str
    score: float | None  # the metric, when the data had labels


def load_export(folder: Path, *, trust_code: bool = False) -> tuple[Any, Any, dict[str, Any]]:
    """(model, preprocessor, model.json) from an export folder. Nothing in it is unpickled; a
    ``python:`` model builder it names is imported only with ``trust_code``. int8 weights are
    dequantised (see :mod:`.int8`); a pruned model is built with the widths model.json records."""
    from safetensors.numpy import load_file as load_numpy

    from automl.artifacts.int8 import load_weights
    from automl.studyfile.trainer_params import TrainParams
    from automl.training.models import Ensemble, build_model
    from automl.training.preprocess import Preprocessor

    if (folder / "preprocessor.pkl").is_file() and not (folder / "preprocessor.json").is_file():
        raise UsageError(
            f"DIR: {str(folder)!r} was exported by an older automl (a pickled "
            "preprocessor); export it again"
        )
    for name in (
        "model.json",
        "model.safetensors",
        "preprocessor.json",
        "preprocessor.safetensors",
    ):
        if not (folder / name).is_file():
            raise UsageError(
                f"DIR: {str(folder)!r} is not an export folder (no {name}); make one "
                "with `automl export`"
            )
    info = json.loads((folder / "model.json").read_text())
    if int(info.get("format", 1)) > FORMAT_VERSION:
        raise UsageError(
            f"DIR: {str(folder)!r} was exported by a newer automl (format "
            f"{info['format']}); upgrade automl"
        )
    if str(info.get("family", "")).startswith("python:") and not trust_code:
        module = str(info["family"]).split(":")[1]
        raise UsageError(
            f"DIR: this export's model is built by your code ({info['family']}); importing module "
            f"{module!r} runs it: add --trust-code if you trust it"
        )
    params = info["params"]
    family = ModelSpec(family=info["family"])
    p = TrainParams.from_mapping(params, batch_size=int(params.get("batch_size", 128)))
    shape, n_outputs = tuple(info["input_shape"]), int(info["n_outputs"])
    members = [
        _member(build_model(family, p, params, shape, n_outputs), info.get("widths"))
        for _ in range(int(info.get("ensemble", 1)))  # exports before ensembles hold one model
    ]
    model = (
        members[0]
        if len(members) == 1
        else Ensemble(members, info["task"] == Task.CLASSIFICATION.value)
    )
    state, _ = load_weights(folder / "model.safetensors")
    model.load_state_dict(state)
    model.eval()
    facts = json.loads((folder / "preprocessor.json").read_text())
    preprocessor = Preprocessor.from_state(
        facts, load_numpy(str(folder / "preprocessor.safetensors"))
    )
    return model, preprocessor, info


def _member(net: Any, widths: Any) -> Any:
    """A freshly built model, with the widths of a pruned export when it has them."""
    if widths is None:
        return net
    from automl.training.compress import resize

    try:
        resize(net, [int(w) for w in widths])
    except (TypeError, ValueError) as exc:
        raise UsageError(f"DIR: model.json's widths do not fit its model: {exc}") from None
    return net


def predict_file(folder: Path, data: Path, *, trust_code: bool = False) -> Prediction:
    from automl.artifacts.inputs import read_inputs
    from automl.training import predict
    from automl.training.metrics import score

    model, preprocessor, info = load_export(folder, trust_code=trust_code)
    categorical = {int(k): v for k, v in info["categorical"].items()}
    X, y = read_inputs(
        data, info["feature_names"], categorical, len(info["input_shape"]), info.get("target")
    )
    if tuple(X.shape[1:]) != _raw_shape(info):
        raise DataError(
            f"DATA: rows of {data} have shape {X.shape[1:]}, the model was trained on "
            f"{tuple(info['input_shape'])}"
        )
    out = predict(model, preprocessor, X)
    task = Task(info["task"])
    metric = Metric(info["metric"])
    classes: list[Any] = info["classes"]
    if task == Task.CLASSIFICATION:
        predictions = [classes[i] for i in out.argmax(axis=1)]
        # score() takes raw model outputs: log-probabilities are logits of the same softmax.
        raw = np.log(np.clip(out, 1e-12, 1.0))
        probabilities = out
    else:
        predictions = [float(v) for v in out]
        raw = preprocessor.transform_target(out).reshape(-1, 1)
        probabilities = None
    value = None
    if y is not None:
        truth = (
            _class_indices(y, classes, data)
            if task == Task.CLASSIFICATION
            else np.asarray(y, dtype=np.float64)
        )
        value = float(score(metric, raw, truth, len(classes), preprocessor))
    return Prediction(predictions, probabilities, classes, metric.value, value)


def _raw_shape(info: dict[str, Any]) -> tuple[int, ...]:
    """The shape of one input row before preprocessing: an image, or one code per feature."""
    return (
        tuple(info["input_shape"])
        if len(info["input_shape"]) > 1
        else (len(info["feature_names"]),)
    )


def _class_indices(y: np.ndarray, classes: list[Any], data: Path) -> np.ndarray:
    index = {str(c): i for i, c in enumerate(classes)}
    try:
        return np.array([index[_label(v)] for v in y], dtype=np.int64)
    except KeyError as exc:
        raise DataError(
            f"DATA: label {exc.args[0]!r} in {data} was not a class in training "
            f"({', '.join(index)})"
        ) from None


def _label(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    text = str(value)
    return text[:-2] if text.endswith(".0") and text[:-2].lstrip("-").isdigit() else text


def write_predictions(result: Prediction, out: Path) -> None:
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        header = ["prediction"]
        if result.probabilities is not None:
            header += [f"p_{c}" for c in result.classes]
        writer.writerow(header)
        for i, value in enumerate(result.predictions):
            row = [value]
            if result.probabilities is not None:
                row += [f"{p:.6g}" for p in result.probabilities[i]]
            writer.writerow(row)
