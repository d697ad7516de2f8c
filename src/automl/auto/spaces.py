"""Default search spaces and known-good start points, per model family and task.

The ranges follow common practice for small and medium tabular and image data with AdamW:
learning rate and weight decay on log scales, a little dropout, shallow-to-medium depth. Batch
norm is left out of the MLP space on purpose: without it the k fold models train as one batched
computation (see ``training/stacked.py``), which buys many more trials in the same time.
"""

from __future__ import annotations

from typing import Any

from automl.studyfile.schema import Task

MLP_SPACE: dict[str, Any] = {
    "lr": {"low": 3.0e-4, "high": 1.0e-2, "log": True},
    "weight_decay": {"low": 1.0e-6, "high": 1.0e-2, "log": True},
    "dropout": {"low": 0.0, "high": 0.4},
    "depth": {"low": 1, "high": 3},
    "width": {"low": 64, "high": 512, "log": True},
    "activation": {"choices": ["relu", "gelu", "silu"]},
    "batch_size": {"choices": [32, 64, 128]},
    "schedule": {"choices": ["cosine", "onecycle", "constant"]},
    "optimizer": "adamw",
}

CNN_SPACE: dict[str, Any] = {
    "lr": {"low": 5.0e-4, "high": 1.0e-2, "log": True},
    "weight_decay": {"low": 1.0e-6, "high": 1.0e-3, "log": True},
    "dropout": {"low": 0.0, "high": 0.4},
    "depth": {"low": 1, "high": 3},
    "channels": {"choices": [16, 32, 64]},
    "kernel_size": 3,
    "batch_norm": {"choices": [True, False]},
    "batch_size": {"choices": [32, 64, 128]},
    "schedule": {"choices": ["cosine", "onecycle", "constant"]},
    "optimizer": "adamw",
}

# Points that are good on most small data sets, run first so that the first minutes already
# give a decent model. Only names that are in the family's space appear.
MLP_START: list[dict[str, Any]] = [
    {
        "lr": 2.0e-3,
        "weight_decay": 1.0e-4,
        "dropout": 0.1,
        "depth": 2,
        "width": 256,
        "activation": "relu",
        "batch_size": 64,
        "schedule": "cosine",
    },
    {
        "lr": 3.0e-3,
        "weight_decay": 1.0e-5,
        "dropout": 0.2,
        "depth": 1,
        "width": 512,
        "activation": "gelu",
        "batch_size": 32,
        "schedule": "onecycle",
    },
]
CNN_START: list[dict[str, Any]] = [
    {
        "lr": 2.0e-3,
        "weight_decay": 1.0e-4,
        "dropout": 0.1,
        "depth": 2,
        "channels": 32,
        "batch_norm": True,
        "batch_size": 64,
        "schedule": "cosine",
    },
    {
        "lr": 3.0e-3,
        "weight_decay": 1.0e-5,
        "dropout": 0.2,
        "depth": 2,
        "channels": 64,
        "batch_norm": False,
        "batch_size": 32,
        "schedule": "onecycle",
    },
]


def default_space(family: str, task: Task) -> dict[str, Any]:
    space = dict(CNN_SPACE if family == "cnn" else MLP_SPACE)
    if task == Task.CLASSIFICATION:
        space["label_smoothing"] = {"low": 0.0, "high": 0.1}
    return space


def start_points(family: str) -> list[dict[str, Any]]:
    return [dict(p) for p in (CNN_START if family == "cnn" else MLP_START)]
