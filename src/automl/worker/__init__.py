"""Runs trials in worker processes: reads them from the storage, trains, tells the storage."""

from automl.worker.runner import execute_trial, failure_reason

__all__ = ["execute_trial", "failure_reason"]
