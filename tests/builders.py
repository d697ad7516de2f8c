"""Model builders (``model: {family: "python:tests.builders:NAME"}``) that end a trial early."""

from __future__ import annotations

import optuna
from torch import nn

import automl


def optuna_pruned(
    params: dict[str, object], input_shape: tuple[int, ...], n_outputs: int
) -> nn.Module:
    raise optuna.TrialPruned("this width does not fit")


def automl_pruned(
    params: dict[str, object], input_shape: tuple[int, ...], n_outputs: int
) -> nn.Module:
    raise automl.TrialPruned("pruned by the builder", 0)


def broken(params: dict[str, object], input_shape: tuple[int, ...], n_outputs: int) -> nn.Module:
    raise ValueError("no such layer")
