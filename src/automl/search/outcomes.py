"""What finished trials count for: the states that spend the budget, and the best trial.

One rule each, used by the coordinator, ``automl status``, the summary, the report and the
trackers:

* **Counted**: COMPLETE and PRUNED trials answered the question they asked, so they count
  toward ``n_trials``; a FAIL does not (``max_failed_trials`` bounds those).
* **Best**: the COMPLETE trial with the best value; on a tie, the first to reach it (the lowest
  number), which is what Optuna's ``Study.best_trial`` returns on a journal or in memory (on an
  RDB storage Optuna leaves a tie to the database; automl asks it for the first). Only
  feasible trials (every constraint value <= 0, Optuna's rule) can be best.
* **Front** (several objectives): the feasible COMPLETE trials no other one dominates, what
  Optuna's ``Study.best_trials`` returns; trials with equal values are all on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.search.counts import best_trial as best_trial  # the best: one rule, in counts.py
from automl.search.counts import counts_by_state, front_trials
from automl.search.pareto import as_loss, dominates

COUNTED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)


def counted(counts: Mapping[str, int]) -> int:
    """How many trials count toward ``n_trials``, from counts keyed by state name.

    >>> counted({"COMPLETE": 3, "PRUNED": 2, "FAIL": 4, "RUNNING": 1})
    5
    """
    return sum(counts.get(state.name, 0) for state in COUNTED_STATES)


def spent_already(study: optuna.Study, n_trials: int) -> bool:
    """The budget is spent and no trial is left RUNNING (a finished study run again with the
    same budget): a run has nothing to start or to recover, so it starts no backend (on the
    local backend: seconds of worker processes importing torch, for nothing)."""
    counts = counts_by_state(study)
    return not counts.get("RUNNING") and counted(counts) >= n_trials


def improves(candidate: FrozenTrial, best: FrozenTrial | None, maximize: bool) -> bool:
    """Would ``candidate`` replace ``best``? Only a strictly better value does (ties keep the
    first)."""
    if candidate.state != TrialState.COMPLETE or candidate.value is None or not feasible(candidate):
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


def feasible(trial: FrozenTrial) -> bool:
    """Every constraint value of the trial is <= 0 (a trial without constraints is feasible)."""
    return all(v <= 0 for v in trial.constraints.values())


def best_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The Pareto front of a multi-objective study, by Optuna's own rule (feasible only)."""
    return front_trials(study)


def front_of(trials: Iterable[FrozenTrial], maximize: Sequence[bool]) -> list[FrozenTrial]:
    """The front of ``trials`` read already, by the same rule as :func:`best_trials`."""
    front: list[FrozenTrial] = []
    for trial in sorted(trials, key=lambda t: t.number):
        front = update_front(front, trial, maximize)
    return front


def update_front(
    front: list[FrozenTrial], candidate: FrozenTrial, maximize: Sequence[bool]
) -> list[FrozenTrial]:
    """``front`` with ``candidate`` taken in: unchanged unless it is a feasible COMPLETE trial
    that no member dominates; the members it dominates leave."""
    if (
        candidate.state != TrialState.COMPLETE
        or candidate.values is None
        or not feasible(candidate)
    ):
        return front
    if not front:
        return [candidate]
    losses = as_loss([t.values for t in front], maximize)
    mine = as_loss([candidate.values], maximize)[0]
    if any(dominates(other, mine) for other in losses):
        return front
    return [t for t, other in zip(front, losses, strict=True) if not dominates(mine, other)] + [
        candidate
    ]


def directions_maximize(study: optuna.Study) -> list[bool]:
    """Per objective, True when higher is better."""
    return [d == optuna.study.StudyDirection.MAXIMIZE for d in study.directions]
