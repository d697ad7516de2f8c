"""A storage that rides out a dropped connection: retry with backoff, then one clear error.

Every call on an Optuna storage goes through :class:`RetryingStorage`. A connection error
(the database restarted, Redis went away, the network blinked) is retried with exponential
backoff until the storage's own retry window has passed (``window_s``, chosen by whoever opens
it: :func:`automl.search.storage.make_storage` ``retry_s``; a command passes
:attr:`automl.settings.Settings.storage_retry_s`, ``AUTOML_STORAGE_RETRY_S``, default 300 s; a
worker process waits far longer, see :mod:`automl.worker.tasks`); then it raises
:class:`StorageError` naming the storage (password masked) and the last error. Any other error (a
finished trial, a missing study) passes through untouched, because retrying it cannot help.

Writes are retried too. A write whose acknowledgement was lost may in rare cases be applied
twice; for the writes automl makes (attributes, values, states) that is harmless, and a trial
created twice shows up as an extra RUNNING trial that the next coordinator fails and retries.
"""

from __future__ import annotations

import copy
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

from automl.errors import StorageError
from automl.search import internals
from automl.settings import Settings

T = TypeVar("T")

log = logging.getLogger(__name__)


# The drivers' connection errors, by the module that defines them. An error of a driver can
# only exist once its module is loaded, so they are looked up among the loaded modules when an
# error is judged: a command whose storage is a journal never imports SQLAlchemy for this list
# (about 0.1 s of its start).
_DRIVER_ERRORS = {
    "sqlalchemy.exc": ("OperationalError", "InterfaceError"),
    "redis.exceptions": ("ConnectionError", "TimeoutError", "BusyLoadingError"),
}


def _transient_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module_name, names in _DRIVER_ERRORS.items():
        module = sys.modules.get(module_name)
        if module is not None:
            types += [getattr(module, name) for name in names]
    return tuple(types)


def is_transient(exc: BaseException) -> bool:
    """A lost connection, even when the storage wrapped it: Optuna's RDB storage raises
    ``StorageInternalError`` from the driver's ``OperationalError`` when the database goes away
    in the middle of a commit."""
    seen: BaseException | None = exc
    transient = _transient_types()
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, transient):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class RetryingStorage(BaseStorage):
    """Delegates every storage call to ``inner``, retrying connection errors for ``window_s``
    seconds (this storage's own window: two storages of one URL may wait differently)."""

    def __init__(
        self,
        inner: BaseStorage,
        shown_url: str,
        sleep: Callable[[float], None] = time.sleep,
        mask: Callable[[str], str] = str,
        *,
        window_s: float = Settings.storage_retry_s,
    ) -> None:
        self.inner = inner
        self.window_s = window_s
        self._shown_url = shown_url  # already masked
        self._mask = (
            mask  # a driver's error may echo pieces of the password: automl.masking.mask_text
        )
        self._sleep = sleep
        self._known = threading.local()  # a trial this thread just read or created; see known()

    @contextmanager
    def known(self, frozen: FrozenTrial) -> Iterator[None]:
        """While open, ``get_trial`` of ``frozen``'s trial in this thread answers a copy of
        ``frozen`` without a read.

        For a caller that has just created or read a RUNNING trial and now builds an
        ``optuna.Trial`` on it, which reads the trial again first (six statements on an RDB
        storage). Only that read is saved: nothing else is cached, and the context is closed
        right after the ``optuna.Trial`` is built.
        """
        self._known.trial = frozen
        try:
            yield
        finally:
            self._known.trial = None

    @contextmanager
    def params_at_once(self, trial_id: int) -> Iterator[None]:
        """While open, this thread's ``set_trial_param`` calls for ``trial_id`` are held, and
        written together when it closes without an error
        (:func:`automl.search.internals.write_params`): one transaction for a new trial's params
        instead of one per param."""
        from automl.search.internals import write_params

        held: list[Any] = []
        self._known.params = (trial_id, held)
        try:
            yield
        finally:
            self._known.params = None
        if held:
            self.retry(write_params, self.inner, trial_id, held)

    def set_trial_param(
        self, trial_id: int, param_name: str, param_value_internal: float, distribution: Any
    ) -> None:
        held = getattr(self._known, "params", None)
        if held is not None and held[0] == trial_id:
            held[1].append((param_name, param_value_internal, distribution))
            return
        self._call("set_trial_param", trial_id, param_name, param_value_internal, distribution)

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        from automl.search.internals import set_intermediate_value  # one statement fewer per report

        self.retry(set_intermediate_value, self.inner, trial_id, step, intermediate_value)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        known = getattr(self._known, "trial", None)
        if known is not None and internals.trial_id(known) == trial_id:
            return copy.deepcopy(known)  # the caller's Trial adds params and values to its copy
        return self._call("get_trial", trial_id)  # type: ignore[no-any-return]

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.retry(getattr(self.inner, name), *args, **kwargs)

    def retry(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``call(*args, **kwargs)``, retried on connection errors like every storage call."""
        window = self.window_s
        deadline = time.monotonic() + window
        delay = 0.25
        attempt = 0
        started = time.monotonic()
        while True:
            try:
                result = call(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - only connection errors are retried
                if not is_transient(exc):
                    raise
                attempt += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    detail = " ".join(self._mask(str(exc)).split())[:300] or type(exc).__name__
                    raise StorageError(
                        f"lost the storage {self._shown_url} and it did not come back within "
                        f"{window:.0f} s ({attempt} tries): {type(exc).__name__}: {detail}",
                        hint="finished trials are safe in the storage; run the same command "
                        "again once it is back",
                    ) from None
                if attempt == 1:
                    log.warning(
                        "storage %s: %s; retrying for up to %.0f s",
                        self._shown_url,
                        type(exc).__name__,
                        left,
                    )
                self._sleep(min(delay, left))
                delay = min(delay * 2, 5.0)
                continue
            if attempt:
                log.warning(
                    "storage %s is back after %.0f s", self._shown_url, time.monotonic() - started
                )
            return result

    def __getattr__(self, name: str) -> Any:
        # Anything not listed below (private helpers of a concrete storage) goes straight through.
        return getattr(self.inner, name)


def retried(storage: BaseStorage, call: Callable[..., T], *args: Any) -> T:
    """``call(*args)``, retried as one call when ``storage`` retries (automl's wrapper, with its
    window); called once on any other storage."""
    retry = getattr(storage, "retry", None)
    return retry(call, *args) if callable(retry) else call(*args)  # type: ignore[no-any-return]


def _delegate(name: str) -> Callable[..., Any]:
    def method(self: RetryingStorage, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"``{name}`` of the wrapped storage, retried on connection errors."
    return method


_METHODS = sorted(
    set(BaseStorage.__abstractmethods__)
    | {
        "get_best_trial", "get_n_trials", "get_trial_id_from_study_id_trial_number",
        "get_trial_number_from_id", "get_trial_param", "get_trial_params", "get_trial_system_attrs",
        "get_trial_user_attrs", "check_trial_is_updatable", "remove_session",
    }
)  # fmt: skip
for _name in _METHODS:
    if _name in ("get_trial", "set_trial_param", "set_trial_intermediate_value"):
        continue  # defined above: known trials, params at once, reports
    setattr(RetryingStorage, _name, _delegate(_name))
RetryingStorage.__abstractmethods__ = frozenset()
