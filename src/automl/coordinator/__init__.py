"""The ask -> dispatch -> collect loop; knows backends only through their base class."""

from automl.coordinator.loop import INTERRUPTED, Coordinator
from automl.coordinator.progress import NoProgress, Progress, RunState, StopReason

__all__ = ["INTERRUPTED", "Coordinator", "NoProgress", "Progress", "RunState", "StopReason"]
