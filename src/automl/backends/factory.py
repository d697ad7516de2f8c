"""Pick the backend a study file asks for."""

from __future__ import annotations

from automl.backends.base import Backend
from automl.backends.local import LocalBackend
from automl.errors import UsageError
from automl.spec.model import BackendKind, StudySpec


def create_backend(spec: StudySpec, storage_url: str) -> Backend:
    """The backend of ``spec.execution.backend``, for a study in ``storage_url``."""
    if spec.execution.backend == BackendKind.LOCAL:
        return LocalBackend(storage_url, n_workers=spec.execution.parallelism)
    raise UsageError("execution.backend: the celery backend is not available in this version yet; use local")
