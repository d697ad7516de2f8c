"""Where trials run: local processes (and, later, Celery workers)."""

from automl.backends.base import Backend, EventKind, TrialEvent, TrialJob
from automl.backends.inline import InlineBackend
from automl.backends.local import LocalBackend

__all__ = ["Backend", "EventKind", "InlineBackend", "LocalBackend", "TrialEvent", "TrialJob"]
