"""What a process that trains keeps from one trial to the next, in one object passed down.

One :class:`TrialHost` per process (or backend) that runs trials: the local backend's worker
process, a Celery worker process (its :class:`~automl.worker.tasks.TrialWorker`), the inline
backend. It owns the caches of what does not change between trials: the data and its folds,
the studies and parsed study files the messages name, and the user functions imported; and it
says how long the storages its trials use retry a lost connection (``storage_retry_s``: a
Celery worker's far longer window, the coordinator's for the local and inline backends).
Nothing of it lives in a module global, so which entry point ran first changes nothing, and a
test that wants a fresh process' view makes a new host.

Two things stay per process on purpose: the storage objects (``automl.search.storage``: one
connection pool per storage URL and retry window, shared with a coordinator in the same
process that has the same window), and the preemption flag (``automl.training.checkpoint``),
which a signal handler sets.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from automl.settings import Settings

if TYPE_CHECKING:
    import optuna

    from automl.studyfile.schema import StudySpec
    from automl.training import DataCache


@dataclass
class TrialHost:
    """The caches of one trial-running process, and its storage retry window; see the module
    docstring."""

    # how long this host's storages retry a lost connection
    storage_retry_s: float = Settings.storage_retry_s
    # (storage URL, study uid, study-file digest) -> (study id, study, study file)
    by_digest: dict[tuple[str, str, str], tuple[int, optuna.Study, StudySpec]] = field(
        default_factory=dict
    )
    # (storage URL, study id) -> (the stored study file as read, study, study file parsed)
    studies: dict[tuple[str, int], tuple[Any, optuna.Study, StudySpec]] = field(
        default_factory=dict
    )
    functions: dict[str, Any] = field(default_factory=dict)  # "module:function" -> the function
    _data: DataCache | None = None
    _writer: ThreadPoolExecutor | None = None

    @property
    def report_writer(self) -> ThreadPoolExecutor:
        """The one thread that writes reports in the background (:mod:`automl.runner.reporter`),
        started at the first trial that needs it."""
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="automl-reports")
        return self._writer

    @property
    def data(self) -> DataCache:
        """The built-in trainer's data and folds, made at the first built-in trial (torch is
        imported then, not before)."""
        if self._data is None:
            from automl import training

            self._data = training.DataCache()
        return self._data
