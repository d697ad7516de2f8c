"""Optuna storages from a URL.

==========================================  ==============================================
URL                                         storage
==========================================  ==============================================
``sqlite:///path.db``                       ``RDBStorage`` (SQLite, one file, no server)
``postgresql://user:pw@host/db``            ``RDBStorage`` through psycopg 3
``redis://[:pw@]host:port/db``, rediss://   ``JournalStorage`` on ``JournalRedisBackend``
a path ending ``.log`` or ``.journal``      ``JournalStorage`` on ``JournalFileBackend``
==========================================  ==============================================

Each storage object retries a lost connection for its own window (``retry_s``; see
:mod:`automl.search.retry`), which whoever opens it chooses from the settings it has: a command
:attr:`~automl.settings.Settings.storage_retry_s`, a worker process its far longer one. Nothing
about it is set per process.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend

from automl.errors import SpecError, StorageError
from automl.masking import mask_text, mask_url, percent_encode_hint, unencoded_separator
from automl.search.internals import open_rdb
from automl.search.journal_redis import BatchedJournalRedisBackend
from automl.search.retry import RetryingStorage
from automl.settings import Settings

_cache: dict[tuple[str, float], BaseStorage] = {}


def make_storage(url: str, *, retry_s: float | None = None, cached: bool = True) -> BaseStorage:
    """Open (creating if needed) the storage at ``url``, retrying a lost connection for
    ``retry_s`` seconds (None: :attr:`Settings.storage_retry_s <automl.settings.Settings>`'
    default); one object per URL and window per process, so a coordinator and a worker in one
    process, each with its own window, each get their own."""
    window = Settings.storage_retry_s if retry_s is None else retry_s
    key = (url, window)
    if cached and key in _cache:
        return _cache[key]
    storage = _open(url, window)
    if cached:
        _cache[key] = storage
    return storage


def _open(url: str, window_s: float) -> BaseStorage:
    """The storage at ``url``, wrapped so that a dropped connection is retried (see retry.py).

    Opening is not retried: a storage that is unreachable at the start is a clear error now.
    """
    kind = storage_kind(url)
    try:
        if kind == "sqlite":
            _ensure_parent(url.removeprefix("sqlite:///"))
            # A generous busy timeout: several local worker processes write to the one file.
            inner: BaseStorage = open_rdb(url, {"connect_args": {"timeout": 60}})
        elif kind == "postgresql":
            # No ping on every checkout (a round trip before each transaction: about 10 per
            # worker trial). A connection the server dropped fails its first statement, which
            # sends nothing; SQLAlchemy then drops the pool's stale connections and
            # RetryingStorage runs the call again on a fresh one.
            inner = open_rdb(_with_driver(url), {"pool_pre_ping": False})
        elif kind == "redis":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                backend = BatchedJournalRedisBackend(url)
            backend.ping()  # fail now, not at the first write
            inner = JournalStorage(backend)
        else:
            _ensure_parent(url)
            inner = JournalStorage(JournalFileBackend(url))
    except (SpecError, StorageError):
        raise
    except Exception as exc:  # noqa: BLE001 - drivers raise many kinds; all mean "cannot open"
        detail = mask_text(
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, url
        )
        raise StorageError(f"cannot open storage {mask_url(url)}: {detail}") from None
    # Optuna caches finished trials in front of an RDB storage; keep that, then add retries.
    return RetryingStorage(  # type: ignore[abstract]
        optuna.storages.get_storage(inner),
        mask_url(url),
        mask=lambda text: mask_text(text, url),
        window_s=window_s,
    )


def storage_kind(url: str) -> str:
    """``sqlite``, ``postgresql``, ``redis`` or ``journal_file``; a SpecError for anything else
    (a password holding ``@ / ? #`` unencoded too: :func:`automl.masking.unencoded_separator`)."""
    if held := unencoded_separator(url):
        raise SpecError("storage", f"{mask_url(url)!r}: {percent_encode_hint(held)}")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "sqlite" and url.startswith("sqlite:///"):
        return "sqlite"
    if scheme.startswith("postgresql") or scheme == "postgres":
        return "postgresql"
    if scheme in ("redis", "rediss"):
        return "redis"
    if not scheme and url.endswith((".log", ".journal")):
        return "journal_file"
    raise SpecError(
        "storage",
        f"{mask_url(url)!r} is not a storage; use sqlite:///file.db, postgresql://..., redis://... "
        "or a path ending .log or .journal",
    )


def _with_driver(url: str) -> str:
    # SQLAlchemy's bare postgresql:// means psycopg2; we ship psycopg 3.
    return re.sub(r"^(postgresql|postgres)://", "postgresql+psycopg://", url)


def _ensure_parent(path: str) -> None:
    parent = Path(path).expanduser().parent
    if not parent.exists():
        raise StorageError(f"cannot create storage {path!r}: folder {str(parent)!r} does not exist")


def quiet_optuna() -> None:
    """Optuna logs every trial at INFO and warns that some storages are experimental; automl
    shows its own progress and has chosen those storages on purpose."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
