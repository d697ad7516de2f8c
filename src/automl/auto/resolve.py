"""Fill in what a minimal study file leaves out, from the data and the machine.

A user who writes only the data, the metric and a budget gets: repeated k-fold CV on small
data (unless the file sets its CV scheme), the model family that suits the data's shape, the
default space of that family, known-good start points, epochs and early stopping that fit the
data size (only when there is no ``trainer:`` section at all), a TPE sampler and a Hyperband
pruner (each only when not named), and as many trials at once as the machine has cores (or
GPUs). Whatever the file does say is kept as it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from automl.auto.spaces import default_space, start_points
from automl.studyfile.load import validate_mapping
from automl.studyfile.schema import BackendKind, StudySpec, Task

# A time budget with no trial count: the clock decides.
TIME_BOUND_TRIALS = 100_000
# Up to this many training rows, one k-fold estimate is too noisy to rank trials by (a
# validation fold of wine holds 28 rows: one row is 3.5 points of accuracy), so each trial
# repeats its k-fold CV with fresh shuffles. Small data trains fast, so the cost is small.
SMALL_ROWS = 1_000
SMALL_REPEATS = 3


@dataclass(frozen=True)
class DataFacts:
    """What the defaults look at: rows available for CV, input shape, task."""

    n_rows: int
    input_shape: tuple[int, ...]
    task: Task


@dataclass(frozen=True)
class Choice:
    field: str
    value: str
    why: str


def complete_spec(
    spec: StudySpec, facts: DataFacts, *, cpu_count: int | None = None, n_gpus: int = 0
) -> tuple[StudySpec, list[Choice]]:
    """``spec`` with every omitted section chosen, and what was chosen and why."""
    raw = spec.model_dump(mode="json")
    given = spec.model_fields_set
    chosen: list[Choice] = []

    def choose(section: str, key: str, value: Any, why: str) -> None:
        raw[section][key] = value
        chosen.append(Choice(f"{section}.{key}", _show(value), why))

    # folds or repeats in the file: its CV scheme is the user's
    cv_given = spec.dataset.cv.model_fields_set
    if not cv_given & {"folds", "repeats"} and facts.n_rows <= SMALL_ROWS:
        raw["data"]["cv"]["repeats"] = SMALL_REPEATS
        chosen.append(
            Choice(
                "data.cv.repeats",
                str(SMALL_REPEATS),
                f"{facts.n_rows} training rows: a single k-fold estimate is too noisy to "
                "rank trials",
            )
        )
    if "model" not in given:
        choose("model", "family", *_family(spec, facts))
    family = raw["model"]["family"]
    search_given = spec.search.model_fields_set if "search" in given else set()
    if "space" not in given and family in ("mlp", "cnn"):
        raw["space"] = default_space(family, facts.task)
        chosen.append(
            Choice(
                "space",
                ", ".join(raw["space"]),
                f"the default space of {family} for {facts.task.value}",
            )
        )
        if "enqueue" not in search_given:
            choose(
                "search",
                "enqueue",
                start_points(family),
                "known-good start points, so the first minutes give a decent model",
            )
    epochs = int(raw["trainer"]["epochs"])
    if "trainer" not in given:  # a trainer section the user wrote is theirs, early stopping or not
        epochs = 40 if facts.n_rows <= 5_000 else 25 if facts.n_rows <= 50_000 else 12
        choose("trainer", "epochs", epochs, f"{facts.n_rows} training rows")
        choose(
            "trainer",
            "early_stopping",
            {"patience": max(5, epochs // 4)},
            "stop a trial that stopped improving",
        )
    if "sampler" not in search_given:
        choose(
            "search",
            "sampler",
            {"type": "tpe", "multivariate": True, "n_startup_trials": 8, "seed": 0},
            "TPE models parameters jointly; 8 random trials first",
        )
    if "pruner" not in search_given:
        choose(
            "search",
            "pruner",
            {"type": "hyperband", "min_resource": max(2, epochs // 10), "reduction_factor": 3},
            "Hyperband stops weak trials early and spends the time on good ones",
        )
    if "n_trials" not in search_given and spec.search.timeout is not None:
        choose("search", "n_trials", TIME_BOUND_TRIALS, "a timeout was given: the clock decides")
    exec_given = spec.execution.model_fields_set if "execution" in given else set()
    if "parallelism" not in exec_given and spec.execution.backend == BackendKind.LOCAL:
        cores = cpu_count or os.cpu_count() or 1
        slots = n_gpus or min(cores, 8)
        choose(
            "execution",
            "parallelism",
            slots,
            f"{n_gpus} GPUs" if n_gpus else f"{cores} CPU cores, one thread each",
        )
    return validate_mapping(raw), chosen


def _family(spec: StudySpec, facts: DataFacts) -> tuple[str, str]:
    """The model family, and why: the space's own parameter names first, then the data's shape."""
    names = set(spec.space)
    if names & {"channels", "kernel_size"} and len(facts.input_shape) == 3:
        return "cnn", "the space names cnn parameters (channels, kernel_size)"
    if "width" in names:
        return "mlp", "the space names width, an mlp parameter"
    image = len(facts.input_shape) == 3
    shape = "x".join(map(str, facts.input_shape))
    return (
        "cnn" if image else "mlp"
    ), f"the inputs are {'images' if image else 'flat features'} ({shape})"


def _show(value: Any) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return f"{len(value)} points"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)
