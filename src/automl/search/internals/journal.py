"""Optuna's journal storage written in one append: several entries, then one read-back.
Checked against Optuna 5.1.0."""

from __future__ import annotations

from typing import Any

from optuna.storages import BaseStorage, JournalStorage

from automl.search.internals.cached import cache_backend

_NEEDED = ("_thread_lock", "_replay_result", "_backend", "_sync_with_backend")


def journal_operations() -> Any:
    """Optuna's enum of journal op codes. Relies on
    ``optuna.storages.journal._storage.JournalOperation`` (Optuna 5.1.0)."""
    from optuna.storages.journal._storage import JournalOperation

    return JournalOperation


def journal_of(storage: BaseStorage) -> JournalStorage | None:
    """The journal storage under automl's wrapper, when it has what
    :func:`append_to_journal` uses; None otherwise (then one call per write, Optuna's own)."""
    base = cache_backend(storage)
    ok = isinstance(base, JournalStorage) and all(hasattr(base, a) for a in _NEEDED)
    return base if ok else None  # type: ignore[return-value]


def append_to_journal(journal: JournalStorage, entries: list[dict[str, Any]]) -> None:
    """Append ``entries`` (each an op code and its fields, without the worker id) in one
    write, then read back once: Optuna writes and reads back one entry per call. The read-back
    applies them by Optuna's rules, so it raises as the one-per-call writes would (a finished
    trial, an incompatible param). Relies on ``JournalStorage._thread_lock``,
    ``._replay_result.worker_id``, ``._backend.append_logs`` and ``._sync_with_backend``
    (Optuna 5.1.0)."""
    with journal._thread_lock:
        worker_id = journal._replay_result.worker_id
        journal._backend.append_logs(
            [{"op_code": e["op_code"], "worker_id": worker_id, **e} for e in entries]
        )
        journal._sync_with_backend()


def journal_user_attrs(journal: JournalStorage, trial_id: int, attrs: dict[str, Any]) -> None:
    """Every attribute in one append (:func:`append_to_journal`)."""
    op = journal_operations().SET_TRIAL_USER_ATTR
    append_to_journal(
        journal,
        [{"op_code": op, "trial_id": trial_id, "user_attr": {k: v}} for k, v in attrs.items()],
    )


def journal_params(
    journal: JournalStorage, trial_id: int, params: list[tuple[str, float, Any]]
) -> None:
    """Every param in one append (:func:`append_to_journal`); checked by the read-back."""
    from optuna.distributions import distribution_to_json

    op = journal_operations().SET_TRIAL_PARAM
    append_to_journal(journal, [
        {"op_code": op, "trial_id": trial_id, "param_name": name, "param_value_internal": value,
         "distribution": distribution_to_json(distribution)}
        for name, value, distribution in params
    ])  # fmt: skip
