"""The training package stays pure PyTorch + scikit-learn: no Optuna, no Celery."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.slow  # a fresh interpreter that imports torch
def test_training_imports_neither_optuna_nor_celery() -> None:
    code = (
        "import sys, automl.training\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('optuna', 'celery', 'redis'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_surface() -> None:
    import automl.training as training

    for name in (
        "cross_validate",
        "TrialResult",
        "DataCache",
        "Dataset",
        "load_dataset",
        "Reporter",
        "NullReporter",
        "fit_final",
        "predict",
    ):
        assert name in training.__all__ and hasattr(training, name)
