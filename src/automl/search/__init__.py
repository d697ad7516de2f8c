"""Thin factories over Optuna: samplers, pruners and storages from the study file."""

from automl.search.outcomes import COUNTED_STATES, best_trial
from automl.search.pruners import build_pruner, study_pruner
from automl.search.samplers import build_sampler
from automl.search.storage import make_storage, quiet_optuna, storage_kind
from automl.search.study import SPEC_ATTR, load_study, open_study, trial_by_number

__all__ = [
    "COUNTED_STATES",
    "SPEC_ATTR",
    "best_trial",
    "build_pruner",
    "study_pruner",
    "build_sampler",
    "load_study",
    "make_storage",
    "open_study",
    "quiet_optuna",
    "storage_kind",
    "trial_by_number",
]
