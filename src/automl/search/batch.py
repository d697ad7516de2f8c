"""Several user attributes of one trial in one write.

Optuna's storages write one attribute per call: on PostgreSQL one transaction each, on a
journal one log entry plus a read-back each. A trial ends with about twenty facts (curves,
fold scores, health, duration), so :func:`set_trial_user_attrs` writes them together: in one
transaction on an RDB storage, one append and one read-back on a journal storage, and one
call each on anything else. The one-write paths reach into the storages' own helpers, which
are not public API: they live in :mod:`automl.search.internals`, guarded by tests, and
tests/search/test_batch.py checks on every storage that the one-write path is taken with the
installed Optuna, so an Optuna that moves them fails a test instead of silently slowing.
"""

from __future__ import annotations

from typing import Any

from optuna.storages import BaseStorage

from automl.search.internals import journal_of, journal_user_attrs, rdb_of, write_user_attrs_rdb
from automl.search.retry import retried


def set_trial_user_attrs(storage: BaseStorage, trial_id: int, attrs: dict[str, Any]) -> None:
    """Write ``attrs`` on the trial; retried as one call when ``storage`` retries (retry.py)."""
    if not attrs:
        return
    retried(storage, _write, getattr(storage, "inner", storage), trial_id, attrs)


def one_write_supported(storage: BaseStorage) -> bool:
    """Whether this storage takes the one-write path (for the test that guards it)."""
    return rdb_of(storage) is not None or journal_of(storage) is not None


def _write(storage: BaseStorage, trial_id: int, attrs: dict[str, Any]) -> None:
    rdb, journal = rdb_of(storage), journal_of(storage)
    if rdb is not None:
        write_user_attrs_rdb(rdb, trial_id, attrs)
    elif journal is not None:  # raises, as set_trial_user_attr does, for a finished trial
        journal_user_attrs(journal, trial_id, attrs)
    else:
        for key, value in attrs.items():
            storage.set_trial_user_attr(trial_id, key, value)
