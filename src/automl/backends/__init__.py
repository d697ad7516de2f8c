"""Where trials run: local worker processes, Celery workers (:mod:`.celery`, imported only when
a study asks for it) and inline in the calling process; the coordinator sees only
:class:`Backend`."""

from automl.backends.base import Backend, EventKind, TrialEvent, TrialJob
from automl.backends.inline import InlineBackend
from automl.backends.local import LocalBackend

__all__ = ["Backend", "EventKind", "InlineBackend", "LocalBackend", "TrialEvent", "TrialJob"]
