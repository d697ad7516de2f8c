"""What an exported model costs and scores: test score, weights' size, latency per row.

``latency_ms`` is the median time of ``automl predict``'s path for ONE preprocessed row
(``training.final.raw_outputs``: inference mode, the forward pass, the copy out) on the CPU
with ONE torch thread, after a warm-up: what one request to a small server costs, not what a
batch of rows costs per row.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch only when a command measures, not when it is imported
    import numpy as np
    import torch
    from torch import nn

    from automl.studyfile import Metric
    from automl.training.preprocess import Preprocessor

WARMUP_CALLS = 20
TIMED_CALLS = 200


@dataclass(frozen=True)
class Figures:
    """A model's test score, the size of its weights file and its latency per row."""

    test: float
    size_bytes: int
    latency_ms: float


def latency_ms(model: nn.Module, row: torch.Tensor, calls: int = TIMED_CALLS) -> float:
    """Median milliseconds of ``raw_outputs(model, row)`` on the CPU with one thread."""
    return latencies_ms([model], row, calls)[0]


def latencies_ms(
    models: Sequence[nn.Module], row: torch.Tensor, calls: int = TIMED_CALLS
) -> list[float]:
    """:func:`latency_ms` of each model, their calls interleaved, so that whatever else the
    machine does meanwhile slows each of them alike and their ratio holds."""
    import torch

    from automl.training.final import raw_outputs

    models = [m.cpu().eval() for m in models]
    row = row[:1].cpu()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    times: list[list[float]] = [[] for _ in models]
    try:
        for _ in range(WARMUP_CALLS):
            for model in models:
                raw_outputs(model, row)
        for _ in range(calls):
            for model, spent in zip(models, times, strict=True):
                start = time.perf_counter()
                raw_outputs(model, row)
                spent.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return [statistics.median(spent) * 1e3 for spent in times]


def score_on(
    model: nn.Module,
    metric: Metric,
    X_test: torch.Tensor,
    y_test: np.ndarray,
    n_classes: int,
    preprocessor: Preprocessor,
) -> float:
    """``metric`` of ``model`` on the preprocessed held-out rows, as ``fit_final`` scores."""
    from automl.training.final import raw_outputs
    from automl.training.metrics import score

    return float(
        score(metric, raw_outputs(model.cpu(), X_test.cpu()), y_test, n_classes, preprocessor)
    )
