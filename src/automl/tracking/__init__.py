"""Experiment trackers (MLflow, W&B, TensorBoard): each trial also logged as a run.

The Optuna storage stays the record; a tracker is a copy for people to look at, written from
the trial as the storage holds it, and a tracker error never fails a trial. Tracker packages
are optional extras, imported only when a study file names them.
"""

from automl.tracking.base import StudyRecord, Tracker, TrialRecord, study_record, trial_record
from automl.tracking.registry import (
    TRACKERS,
    check_tracking,
    log_study,
    log_trial,
    make_trackers,
    named_trackers,
)

__all__ = [
    "TRACKERS", "StudyRecord", "Tracker", "TrialRecord", "check_tracking", "log_study", "log_trial",
    "make_trackers", "named_trackers", "study_record", "trial_record",
]  # fmt: skip
