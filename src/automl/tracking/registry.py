"""The trackers a study names, imported only when named, and calls that never raise.

``check_tracking`` runs where a study file is checked (before anything is written): a named
tracker that is not installed is a :class:`SpecError` with the install hint, and relative
paths become absolute, so that every worker process on this machine writes to the same place.
``log_trial`` (workers) and ``log_study`` (``automl run``) catch every tracker error: the first
one from each tracker in a process is logged as a warning, the rest at debug level.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from typing import Any

import optuna

from automl.errors import SpecError
from automl.masking import mask_text
from automl.studyfile import StudySpec
from automl.studyfile.schema import TrackingSpec
from automl.tracking.base import Tracker, study_record, trial_record

log = logging.getLogger(__name__)

# name under `tracking:` -> (our module, its class, the module that must import, the pip extra)
TRACKERS: dict[str, tuple[str, str, str, str]] = {
    "mlflow": ("automl.tracking.mlflow_tracker", "MlflowTracker", "mlflow", "mlflow"),
    "wandb": ("automl.tracking.wandb_tracker", "WandbTracker", "wandb", "wandb"),
    "tensorboard": (
        "automl.tracking.tensorboard_tracker",
        "TensorboardTracker",
        "torch.utils.tensorboard",
        "tensorboard",
    ),
}

_warned: set[tuple[str, str]] = set()  # (study, tracker) pairs that already warned in this process


def named_trackers(tracking: TrackingSpec) -> list[str]:
    """The trackers the study file names, in a fixed order."""
    return [name for name in TRACKERS if getattr(tracking, name) is not None]


def check_tracking(spec: StudySpec) -> StudySpec:
    """Check that every named tracker is installed; return ``spec`` with absolute paths.

    Relative paths are taken relative to the current directory (that of ``automl run``).
    """
    for name in named_trackers(spec.tracking):
        module, extra = TRACKERS[name][2], TRACKERS[name][3]
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise SpecError(
                f"tracking.{name}",
                f"{name} is not installed ({' '.join(str(exc).split())[:200]})",
                hint=f"pip install 'automl[{extra}]'",
            ) from None
    return spec.model_copy(update={"tracking": _absolute(spec.tracking)})


def make_trackers(spec: StudySpec) -> list[Tracker]:
    """One tracker per section of ``tracking:``; imports only the modules of those named."""
    return [_make(spec, name) for name in named_trackers(spec.tracking)]


def _make(spec: StudySpec, name: str) -> Tracker:
    module, cls = TRACKERS[name][:2]
    tracker: Tracker = getattr(importlib.import_module(module), cls)(
        getattr(spec.tracking, name), spec.name
    )
    return tracker


def log_trial(study: optuna.Study, spec: StudySpec, storage_url: str, trial_number: int) -> None:
    """Log a finished trial, read back from the storage, to every named tracker. Never raises."""
    if not named_trackers(spec.tracking):
        return
    from automl.search.study import trial_by_number  # the search package imports optuna only

    try:
        record = trial_record(trial_by_number(study, trial_number), spec, storage_url)
    except Exception as exc:  # noqa: BLE001 - a tracker must never fail a trial
        _report(spec.name, "tracking", f"trial {trial_number}", exc, storage_url)
        return
    _each(spec, storage_url, f"trial {trial_number}", lambda tracker: tracker.log_trial(record))


def log_study(study: optuna.Study, spec: StudySpec, storage_url: str) -> None:
    """Log the study's summary (best trial or, with several objectives, the Pareto front; counts)
    to every named tracker. Never raises."""
    if not named_trackers(spec.tracking):
        return
    try:
        record = study_record(study, spec, storage_url)
    except Exception as exc:  # noqa: BLE001
        _report(spec.name, "tracking", "the study summary", exc, storage_url)
        return
    _each(spec, storage_url, "the study summary", lambda tracker: tracker.log_study(record))


def _each(spec: StudySpec, storage_url: str, what: str, call: Callable[[Tracker], None]) -> None:
    for name in named_trackers(spec.tracking):
        try:
            call(_make(spec, name))
        except Exception as exc:  # noqa: BLE001 - a tracker must never fail a trial or a run
            _report(spec.name, name, what, exc, storage_url)


def _report(study: str, tracker: str, what: str, exc: BaseException, storage_url: str) -> None:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    text = mask_text(text, storage_url)[:300]
    if (study, tracker) in _warned:
        log.debug("%s could not log %s of study %s: %s", tracker, what, study, text)
        return
    _warned.add((study, tracker))
    log.warning(
        "%s could not log %s of study %s: %s (the storage keeps every result; later errors from "
        "%s in this process are logged at debug level)", tracker, what, study, text, tracker,
    )  # fmt: skip


def _absolute(tracking: TrackingSpec) -> TrackingSpec:
    update: dict[str, Any] = {}
    if tracking.mlflow is not None:
        update["mlflow"] = tracking.mlflow.model_copy(
            update={"tracking_uri": _absolute_uri(tracking.mlflow.tracking_uri)}
        )
    if tracking.wandb is not None:
        update["wandb"] = tracking.wandb.model_copy(
            update={"dir": _absolute_path(tracking.wandb.dir)}
        )
    if tracking.tensorboard is not None:
        update["tensorboard"] = tracking.tensorboard.model_copy(
            update={"log_dir": _absolute_path(tracking.tensorboard.log_dir)}
        )
    return tracking.model_copy(update=update)


def _absolute_path(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def _absolute_uri(uri: str) -> str:
    """``sqlite:///rel.db``, ``file:rel`` and bare paths made absolute; server URIs unchanged."""
    if uri.startswith("sqlite:///"):
        path = uri.removeprefix("sqlite:///")
        return (
            uri
            if path.startswith("/") or path == ":memory:"
            else "sqlite:///" + _absolute_path(path)
        )
    if uri.startswith("file:"):
        path = uri.removeprefix("file:")
        return uri if path.startswith("//") else "file://" + _absolute_path(path)
    if "://" in uri or uri.split(":", 1)[0] in ("databricks", "databricks-uc", "uc"):
        return uri
    return _absolute_path(uri)
