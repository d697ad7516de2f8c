"""One trial, run where a backend put it: read it from the storage, train, tell the storage.

Every backend runs trials through :func:`execute_trial` (local processes, Celery workers, the
inline backend); it knows nothing of queues, brokers or claims.
"""

from automl.runner.execute import execute_trial
from automl.runner.failures import failure_reason
from automl.runner.host import TrialHost

__all__ = ["TrialHost", "execute_trial", "failure_reason"]
