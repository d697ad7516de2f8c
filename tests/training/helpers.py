"""Study specs for short training runs."""

from __future__ import annotations

from typing import Any

from automl.studyfile import StudySpec


def make_spec(
    source: str = "sklearn:iris",
    *,
    metric: str = "accuracy",
    folds: int = 3,
    epochs: int = 3,
    family: str = "mlp",
    batch_size: int = 32,
    seed: int = 0,
    data: dict[str, Any] | None = None,
    trainer: dict[str, Any] | None = None,
) -> StudySpec:
    """A study for a short run; ``data`` and ``trainer`` add or override fields."""
    return StudySpec.model_validate(
        {
            "name": "test",
            "objective": {"metric": metric},
            "data": {"source": source, "cv": {"folds": folds, "seed": 0}, **(data or {})},
            "model": {"family": family},
            "trainer": {
                "epochs": epochs, "batch_size": batch_size, "device": "cpu", "seed": seed,
                **(trainer or {}),
            },
        }
    )  # fmt: skip
