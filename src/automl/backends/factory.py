"""Pick the backend a study file asks for."""

from __future__ import annotations

import logging
import os

from automl.backends.base import Backend
from automl.backends.local import LocalBackend
from automl.settings import Settings
from automl.studyfile.schema import BackendKind, StudySpec

log = logging.getLogger(__name__)


def create_backend(spec: StudySpec, storage_url: str, settings: Settings | None = None) -> Backend:
    """The backend of ``spec.execution.backend``, for a study in ``storage_url``; ``settings``
    (default: the defaults) time how long workers retry the storage and how the celery backend
    waits for the broker and its workers.

    Celery needs ``execution.broker`` (the CLI fills it from ``AUTOML_BROKER``); without one
    this raises a UsageError naming that field, before anything is written.
    """
    if spec.execution.backend == BackendKind.CELERY:
        from automl.backends.celery import CeleryBackend  # celery is imported only when used

        return CeleryBackend(
            storage_url,
            spec.execution.broker or "",
            spec.execution.queue,
            spec.execution.parallelism,
            settings,
        )
    workers = spec.execution.parallelism
    cores = os.cpu_count() or 1
    if workers > cores:  # each local process trains with at least one core's worth of threads
        log.warning(
            "execution.parallelism %d is more than this machine's %d cores; running %d "
            "trials at a time",
            workers,
            cores,
            cores,
        )
        workers = cores
    return LocalBackend(storage_url, n_workers=workers, settings=settings)
