"""The one door to Optuna's internals: every name automl uses that Optuna does not promise to
keep (a private attribute, method or module) is touched here and nowhere else.

Each touch is a small named function whose docstring names what it relies on and the Optuna
release it was checked against (:data:`CHECKED_AGAINST`). tests/search/test_internals_guards.py
and test_internals_guards_storage.py hold one guard per touch (a test checks that each touch
has one), failing with the name that moved when a release moves it;
tests/test_architecture.py refuses Optuna's private names anywhere else in ``src/``, and ruff's
private-access rule (SLF001) is ignored only in this package. ``pyproject.toml`` pins Optuna
to the minor checked here; raise the pin on purpose, after the guards pass on the new release,
and change :data:`CHECKED_AGAINST` with it.

Why each is worth it (statements or reads saved per trial) is written where it is used.

- :mod:`.studies`: a study's storage and id, a trial's id, an ask without the look for
  enqueued trials, Optuna's Pareto rule.
- :mod:`.cached`: Optuna's cache in front of an RDB storage.
- :mod:`.rdb`: sessions and table models of the RDB storage; writes in one transaction.
- :mod:`.create`: several new trials in one transaction on PostgreSQL.
- :mod:`.rdb_trials`: trials of an RDB storage read whole with plain queries (two statements).
- :mod:`.rdb_queries`: what ``automl status`` asks an RDB storage's tables directly.
- :mod:`.outcome`: a trial's last attributes, values and state in one transaction.
- :mod:`.schema`: an RDB storage opened without Alembic when its schema is current.
- :mod:`.journal`: appends to a journal storage in one batch.
"""

from automl.search.internals.cached import cache_backend, cache_of, created_trial, under_cache
from automl.search.internals.create import create_trials, creates_in_bulk
from automl.search.internals.journal import (
    append_to_journal,
    journal_of,
    journal_operations,
    journal_params,
    journal_user_attrs,
)
from automl.search.internals.outcome import outcome_in_one_write, write_outcome_rdb
from automl.search.internals.rdb import (
    Param,
    rdb_models,
    rdb_of,
    rdb_session,
    set_intermediate_value,
    set_trial_attr_without_commit,
    set_trial_param_without_commit,
    write_params,
    write_user_attrs_rdb,
)
from automl.search.internals.rdb_queries import (
    count_states_rdb,
    fail_reason_rows_rdb,
    running_numbers_rdb,
    tied_trial_ids_rdb,
    top_trial_ids_rdb,
    trial_rows_rdb,
)
from automl.search.internals.rdb_trials import trial_by_number_rdb, trials_by_id_rdb
from automl.search.internals.schema import open_rdb
from automl.search.internals.studies import (
    CHECKED_AGAINST,
    ask_without_waiting,
    forget_cached_trials,
    pareto_front,
    study_id,
    study_storage,
    trial_id,
    trial_on,
)

__all__ = [
    "CHECKED_AGAINST",
    "Param",
    "append_to_journal",
    "ask_without_waiting",
    "cache_backend",
    "cache_of",
    "count_states_rdb",
    "create_trials",
    "created_trial",
    "creates_in_bulk",
    "fail_reason_rows_rdb",
    "forget_cached_trials",
    "journal_of",
    "journal_operations",
    "journal_params",
    "journal_user_attrs",
    "open_rdb",
    "outcome_in_one_write",
    "pareto_front",
    "rdb_models",
    "rdb_of",
    "rdb_session",
    "running_numbers_rdb",
    "set_intermediate_value",
    "set_trial_attr_without_commit",
    "set_trial_param_without_commit",
    "study_id",
    "study_storage",
    "tied_trial_ids_rdb",
    "top_trial_ids_rdb",
    "trial_id",
    "trial_on",
    "trial_rows_rdb",
    "trial_by_number_rdb",
    "trials_by_id_rdb",
    "under_cache",
    "write_outcome_rdb",
    "write_params",
    "write_user_attrs_rdb",
]
