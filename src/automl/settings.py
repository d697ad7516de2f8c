"""automl's tunables: one frozen :class:`Settings`, read from the environment once.

The command line (:func:`automl.cli.main`) calls :meth:`Settings.from_env` once per command
and passes the result down: to the :class:`~automl.coordinator.Coordinator`, to the backend
(:func:`automl.backends.factory.create_backend`) and to the worker process
(:func:`automl.worker.celery_app.configure`). Nothing deeper reads the environment for these.
Tests and programs that embed automl build their own ``Settings(...)``.

Secrets (the storage and broker URLs, the dashboard token) are not settings: they are flags,
with ``AUTOML_STORAGE`` / ``AUTOML_BROKER`` / ``AUTOML_DASHBOARD_TOKEN`` standing in for them,
handled in :mod:`automl.cli`.

A leaf: imports nothing from automl but :mod:`automl.errors`.

>>> Settings.from_env({"AUTOML_LEASE_S": "9"}).lease_s
9.0
>>> Settings().storage_retry_s
300.0
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from automl.errors import UsageError

STORAGE_RETRY_ENV = "AUTOML_STORAGE_RETRY_S"
BROKER_RETRY_ENV = "AUTOML_BROKER_RETRY_S"
LEASE_ENV = "AUTOML_LEASE_S"


@dataclass(frozen=True)
class Settings:
    """How long automl waits for things, in seconds.

    ``storage_retry_s`` (``AUTOML_STORAGE_RETRY_S``, default 300)
        How long a command (``automl run``, ``status``, ...) retries a lost connection to the
        Optuna storage, with backoff, before it stops with one clear error. 0: no retries.
        See :mod:`automl.search.retry`.
    ``broker_retry_s`` (``AUTOML_BROKER_RETRY_S``, default 600)
        How long the coordinator of a celery study keeps its trials in flight while the broker
        is unreachable, before it stops with one clear error.
    ``lease_s`` (``AUTOML_LEASE_S``, default 30)
        The lease a Celery worker keeps on the trial it trains: renewed every third of it, and
        a trial whose worker stays silent this long is lost. ``automl worker --lease-s``
        overrides it. The coordinator uses it for trials whose claim it has not read yet (a
        claim says its worker's own lease); see :mod:`automl.worker.lease`.
    ``worker_storage_retry_s`` (no environment variable; default 7 days)
        How long a worker process retries a lost storage connection: workers wait out an
        outage of the storage the whole fleet shares for as long as it takes.
    ``fallback_poll_s`` (no environment variable; default 2)
        How often the coordinator of a celery study reads back every trial in flight (sooner
        with short leases), which catches whatever no worker announced.
    ``stop_grace_s`` (no environment variable; default 10)
        A program trial (``train: {command: ...}``) that is stopped gets SIGTERM, then SIGKILL
        this long after.
    """

    storage_retry_s: float = 300.0
    broker_retry_s: float = 600.0
    lease_s: float = 30.0
    worker_storage_retry_s: float = 7 * 24 * 3600.0
    fallback_poll_s: float = 2.0
    stop_grace_s: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """The defaults, with what ``AUTOML_STORAGE_RETRY_S``, ``AUTOML_BROKER_RETRY_S`` and
        ``AUTOML_LEASE_S`` say (unset or empty: the default); a UsageError naming a variable
        that is not a number, or out of range."""
        defaults = cls()
        return cls(
            storage_retry_s=_seconds(
                environ, STORAGE_RETRY_ENV, defaults.storage_retry_s, zero_ok=True
            ),
            broker_retry_s=_seconds(
                environ, BROKER_RETRY_ENV, defaults.broker_retry_s, zero_ok=True
            ),
            lease_s=_seconds(environ, LEASE_ENV, defaults.lease_s, zero_ok=False),
        )


def _seconds(environ: Mapping[str, str], name: str, default: float, *, zero_ok: bool) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{name}: {raw[:50]!r} is not a number of seconds") from None
    if math.isnan(value) or value < 0 or (value == 0 and not zero_ok):
        raise UsageError(f"{name} must be {'>= 0' if zero_ok else '> 0'}, but got {raw[:50]}")
    if not zero_ok and math.isinf(value):
        raise UsageError(f"{name} must be a finite number of seconds, but got {raw[:50]}")
    return value
