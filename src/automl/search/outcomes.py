"""What finished trials count for: the states that spend the budget, and the best trial.

One rule each, used by the coordinator, ``automl status``, the summary, the report and the
trackers:

* **Counted**: COMPLETE and PRUNED trials answered the question they asked, so they count
  toward ``n_trials``; a FAIL does not (``max_failed_trials`` bounds those).
* **Best**: the COMPLETE trial with the best value; on a tie, the first to reach it (the lowest
  number), which is what Optuna's ``Study.best_trial`` returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import optuna
from optuna.trial import FrozenTrial, TrialState

COUNTED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)


def counted(counts: Mapping[str, int]) -> int:
    """How many trials count toward ``n_trials``, from counts keyed by state name.

    >>> counted({"COMPLETE": 3, "PRUNED": 2, "FAIL": 4, "RUNNING": 1})
    5
    """
    return sum(counts.get(state.name, 0) for state in COUNTED_STATES)


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The study's best trial from the storage's own query (None before the first COMPLETE)."""
    try:
        return study.best_trial
    except ValueError:  # no complete trial yet
        return None


def improves(candidate: FrozenTrial, best: FrozenTrial | None, maximize: bool) -> bool:
    """Would ``candidate`` replace ``best``? Only a strictly better value does (ties keep the first)."""
    if candidate.state != TrialState.COMPLETE or candidate.value is None:
        return False
    if best is None or best.value is None:
        return True
    return candidate.value > best.value if maximize else candidate.value < best.value


def best_of(trials: Iterable[FrozenTrial], maximize: bool) -> FrozenTrial | None:
    """The best of ``trials`` read already, by the same rule as :func:`best_trial`."""
    best: FrozenTrial | None = None
    for trial in sorted(trials, key=lambda t: t.number):
        if improves(trial, best, maximize):
            best = trial
    return best
