"""Sensible configurations reach the accuracy a user expects on digits (5-fold CV)."""

from __future__ import annotations

import pytest

from automl.training import DataCache, NullReporter, cross_validate
from tests.training.helpers import make_spec


@pytest.mark.slow
def test_mlp_reaches_97_percent_on_digits(cache: DataCache) -> None:
    spec = make_spec("sklearn:digits", folds=5, epochs=20, batch_size=64)
    params = {"depth": 2, "width": 256, "dropout": 0.2, "lr": 3e-3, "schedule": "onecycle",
              "label_smoothing": 0.1}  # fmt: skip
    result = cross_validate(spec, params, NullReporter(), cache=cache)
    assert result.path == "stacked"
    assert result.value >= 0.97, result.curve


@pytest.mark.slow
def test_cnn_reaches_98_percent_on_digits(cache: DataCache) -> None:
    spec = make_spec("sklearn:digits", family="cnn", folds=5, epochs=10, batch_size=128)
    params = {"depth": 2, "channels": 16, "width": 64, "batch_norm": True, "lr": 1e-2,
              "schedule": "onecycle"}  # fmt: skip
    result = cross_validate(spec, params, NullReporter(), cache=cache)
    assert result.value >= 0.98, result.curve
