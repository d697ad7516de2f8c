"""Which storage errors are retried: lost connections, even when Optuna wrapped them."""

from __future__ import annotations

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
