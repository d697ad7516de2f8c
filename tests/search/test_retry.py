"""Which storage errors are retried: lost connections, even when Optuna wrapped them."""

from __future__ import annotations

import subprocess
import sys

import sqlalchemy.exc
from optuna.exceptions import StorageInternalError

from automl.search.retry import is_transient


def _wrapped(inner: BaseException) -> StorageInternalError:
    # As Optuna's RDB storage raises it when the database goes away in the middle of a commit.
    try:
        try:
            raise inner
        except Exception as exc:
            raise StorageInternalError("An exception is raised during the commit.") from exc
    except StorageInternalError as outer:
        return outer


def test_a_lost_connection_is_transient_even_when_wrapped() -> None:
    lost = sqlalchemy.exc.OperationalError(
        "COMMIT", {}, Exception("the database system is shutting down")
    )
    assert is_transient(lost)
    assert is_transient(_wrapped(lost))
    assert is_transient(ConnectionError("reset"))


def test_other_errors_are_not() -> None:
    assert not is_transient(KeyError("no study"))
    assert not is_transient(_wrapped(ValueError("value too long")))


def test_redis_errors_are_transient_too() -> None:
    import redis.exceptions

    assert is_transient(redis.exceptions.ConnectionError("Connection refused"))
    assert is_transient(redis.exceptions.BusyLoadingError("loading the dataset"))
    assert not is_transient(redis.exceptions.ResponseError("WRONGTYPE"))


def test_a_journal_run_does_not_import_sqlalchemy_for_the_error_list() -> None:
    # The drivers' error types are looked up among loaded modules: `automl run` of a study on a
    # journal loads none of SQLAlchemy for them (about 0.1 s of its start).
    code = (
        "import sys; import automl.cli.run, automl.backends.factory, automl.backends.celery, "
        "automl.worker.celery_app, automl.search.retry; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
