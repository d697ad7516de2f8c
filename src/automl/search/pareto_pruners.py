"""Pruners for studies with several objectives: successive halving, Hyperband, median/percentile.

Optuna refuses ``Trial.report`` on a multi-objective study, so its pruners cannot serve one;
the worker keeps each trial's values per epoch in the user attribute
:data:`automl.trial_attrs.INTERMEDIATE_VALUES` (``{epoch: {objective: value}}``) and these pruners
read it. They are Optuna pruners (``prune(study, trial)``), so they sit in ``study.pruner`` and
speak of steps, as Optuna's pruners and their settings (``n_warmup_steps``) do: a step here is an
epoch the trial reported (your own code's step).

* **Successive halving** (asynchronous, as Optuna's): rung ``r`` is at step
  ``min_resource * eta ** (min_early_stopping_rate + r)``. When a trial first reports at or past
  a rung, its vector there is ranked against every other trial's vector at that rung (its first
  reported step at or past it): non-dominated sorting fills the top ``max(1, n // eta)`` front
  by front, and the front that does not fit whole is cut by crowding distance (Schmucker et al.
  2021, "Multi-objective ASHA"). A trial outside the top is pruned.
* **Hyperband**: brackets of successive halving with rising early-stopping rates; a trial
  competes only within its bracket, chosen from its number as Optuna's Hyperband does. Steps
  here are epochs counted from 1, so a rung can fall on ``max_resource`` itself (27 epochs,
  rungs 1, 3, 9, 27); such a rung is not judged: pruning there would discard a trial that has
  finished. Optuna, counting steps from 0, never reaches a step equal to its ``max_resource``.
* **Median / percentile**: at each step, the trial's Pareto rank among the complete trials'
  vectors at that step; pruned when it is worse than the median (percentile) rank.

Constraints (the study file's ``constraints``) rank a vector that breaks one behind every
vector that keeps them all, where the step's record names the constrained metric (model costs
are known from the first epoch). A vector with nan in it is pruned, as Optuna prunes nan.
"""

from __future__ import annotations

import binascii
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.search.pareto import as_loss, in_top, ranks
from automl.search.vectors import epoch_vectors_of
from automl.studyfile.schema import Bound

Record = Mapping[str, float | None]  # one step's values by name


class ParetoRanking:
    """Objectives, directions and constraints: turns records into ranked loss vectors."""

    def __init__(
        self, names: Sequence[str], maximize: Sequence[bool], constraints: Mapping[str, Bound]
    ) -> None:
        self.names, self.maximize, self.constraints = list(names), list(maximize), dict(constraints)

    def vector(self, record: Record) -> list[float]:
        return [_number(record.get(name)) for name in self.names]

    def violation(self, record: Record) -> float:
        """How far the record breaks the constraints it can be judged on (0: keeps them)."""
        total = 0.0
        for name, bound in self.constraints.items():
            value = record.get(name)
            if isinstance(value, (int, float)) and math.isfinite(value):
                total += sum(max(0.0, v) for v in bound.violations(float(value)).values())
        return total

    def losses(self, records: Sequence[Record]) -> np.ndarray:
        """Loss vectors with an extra leading column when some record breaks a constraint:
        the violation, compared first, so any feasible vector beats any infeasible one."""
        base = as_loss([self.vector(r) for r in records], self.maximize)
        violations = np.array([self.violation(r) for r in records])
        if not violations.any():
            return base
        # Infeasible vectors: all objectives at +inf, ordered among themselves by violation.
        worst = np.where(violations[:, None] > 0, np.inf, base)
        return np.column_stack([violations, worst])

    def ranks(self, records: Sequence[Record]) -> list[int]:
        return ranks(self.losses(records))


class ParetoSuccessiveHalving(optuna.pruners.BasePruner):
    """Asynchronous successive halving on Pareto ranks (module docstring)."""

    def __init__(
        self, ranking: ParetoRanking, min_resource: int | str = "auto", reduction_factor: int = 4,
        min_early_stopping_rate: int = 0, bootstrap_count: int = 0,
    ) -> None:  # fmt: skip
        if not (min_resource == "auto" or (isinstance(min_resource, int) and min_resource >= 1)):
            raise ValueError(
                f"min_resource must be 'auto' or a whole number >= 1, but got {min_resource!r}"
            )
        if not isinstance(reduction_factor, int) or reduction_factor < 2:
            raise ValueError(
                f"reduction_factor must be a whole number >= 2, but got {reduction_factor!r}"
            )
        if min_early_stopping_rate < 0 or bootstrap_count < 0:
            raise ValueError("min_early_stopping_rate and bootstrap_count must be >= 0")
        self.ranking, self.eta = ranking, reduction_factor
        self.min_resource = None if min_resource == "auto" else int(min_resource)
        self.rate, self.bootstrap = min_early_stopping_rate, bootstrap_count

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return self.judge(trial, lambda: study.get_trials(deepcopy=False))

    def judge(
        self,
        trial: FrozenTrial,
        read_trials: Any,
        min_resource: int | None = None,
        max_resource: int | None = None,
    ) -> bool:
        """Prune ``trial`` at the rungs it reached since its last report? ``max_resource``, when
        known (Hyperband's), is the full budget: a rung there or past it is not judged, since
        pruning a trial at its last step saves nothing and discards its finished result."""
        mine = epoch_vectors_of(trial)
        if not mine:
            return False
        step = max(mine)
        before = max((s for s in mine if s < step), default=0)
        others: list[tuple[FrozenTrial, Mapping[int, Record]]] | None = (
            None  # read once, parsed once
        )

        def read() -> list[tuple[FrozenTrial, Mapping[int, Record]]]:
            nonlocal others
            if others is None:
                others = [
                    (t, epoch_vectors_of(t)) for t in read_trials() if t.number != trial.number
                ]
            return others

        rung = 0
        while True:
            if min_resource is None and self.min_resource is None:
                min_resource = _estimate_min_resource(read())
                if min_resource is None:
                    return False
            resource = min_resource if min_resource is not None else self.min_resource
            assert resource is not None
            at = resource * self.eta ** (self.rate + rung)
            if at > step or (max_resource is not None and at >= max_resource):
                return False
            rung += 1
            if at <= before:
                continue  # judged when the trial first reached it
            record = mine[step]
            if any(math.isnan(v) for v in self.ranking.vector(record)):
                return True
            competing = [r for _, steps in read() for r in [_record_at(steps, at)] if r is not None]
            competing.append(record)
            if len(competing) <= self.bootstrap:
                return True
            keep = max(1, len(competing) // self.eta)
            if not in_top(self.ranking.losses(competing), keep, len(competing) - 1):
                return True


class ParetoHyperband(optuna.pruners.BasePruner):
    """Hyperband's brackets of :class:`ParetoSuccessiveHalving` (module docstring)."""

    def __init__(
        self, ranking: ParetoRanking, min_resource: int = 1, max_resource: int | str = "auto",
        reduction_factor: int = 3, bootstrap_count: int = 0,
    ) -> None:  # fmt: skip
        if not isinstance(min_resource, int) or min_resource < 1:
            raise ValueError(f"min_resource must be a whole number >= 1, but got {min_resource!r}")
        if not (
            max_resource == "auto"
            or (isinstance(max_resource, int) and max_resource >= min_resource)
        ):
            raise ValueError(
                "max_resource must be 'auto' or a whole number >= min_resource, but got "
                f"{max_resource!r}"
            )
        if not isinstance(reduction_factor, int) or reduction_factor < 2:
            raise ValueError(
                f"reduction_factor must be a whole number >= 2, but got {reduction_factor!r}"
            )
        self.ranking, self.eta, self.bootstrap = ranking, reduction_factor, bootstrap_count
        self.min_resource = min_resource
        self.max_resource = None if max_resource == "auto" else int(max_resource)

    def brackets(self, max_resource: int) -> list[int]:
        """Each bracket's share of trials (the Hyperband paper's n_i, up to a constant)."""
        n = math.floor(math.log(max_resource / self.min_resource, self.eta) + 1e-9) + 1
        return [math.ceil(n * self.eta ** (n - 1 - b) / (n - b)) for b in range(n)]

    def bracket_of(self, study_name: str, number: int, budgets: list[int]) -> int:
        n = binascii.crc32(f"{study_name}_{number}".encode()) % sum(budgets)
        for bracket, budget in enumerate(budgets):
            n -= budget
            if n < 0:
                return bracket
        return len(budgets) - 1

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        cache: list[list[FrozenTrial]] = []

        def read() -> list[FrozenTrial]:
            if not cache:
                cache.append(study.get_trials(deepcopy=False))
            return cache[0]

        max_resource = self.max_resource
        if max_resource is None:
            steps = [
                max(epoch_vectors_of(t), default=0)
                for t in read()
                if t.state == TrialState.COMPLETE
            ]
            max_resource = max(steps, default=0)
            if max_resource < self.min_resource:
                return False  # as Optuna's: the first complete trial tells the largest budget
        budgets = self.brackets(max_resource)
        bracket = self.bracket_of(study.study_name, trial.number, budgets)
        halving = ParetoSuccessiveHalving(
            self.ranking, self.min_resource, self.eta, bracket, self.bootstrap
        )

        def same_bracket() -> list[FrozenTrial]:
            return [
                t for t in read() if self.bracket_of(study.study_name, t.number, budgets) == bracket
            ]

        return halving.judge(trial, same_bracket, self.min_resource, max_resource)


class ParetoPercentile(optuna.pruners.BasePruner):
    """Median (50) or percentile of Pareto ranks at each step (module docstring)."""

    def __init__(
        self, ranking: ParetoRanking, percentile: float = 50.0, n_startup_trials: int = 5,
        n_warmup_steps: int = 0, interval_steps: int = 1, *, n_min_trials: int = 1,
    ) -> None:  # fmt: skip
        if not 0.0 <= percentile <= 100.0:
            raise ValueError(f"percentile must be in [0, 100], but got {percentile}")
        if n_startup_trials < 0 or n_warmup_steps < 0 or interval_steps < 1 or n_min_trials < 1:
            raise ValueError(
                "n_startup_trials and n_warmup_steps must be >= 0, interval_steps and "
                "n_min_trials >= 1"
            )
        self.ranking, self.percentile = ranking, percentile
        self.startup, self.warmup, self.interval, self.min_trials = (
            n_startup_trials,
            n_warmup_steps,
            interval_steps,
            n_min_trials,
        )

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        mine = epoch_vectors_of(trial)
        if not mine:
            return False
        step = max(mine)
        if step < self.warmup or (step - self.warmup) % self.interval != 0:
            return False
        if any(math.isnan(v) for v in self.ranking.vector(mine[step])):
            return True
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(complete) < self.startup:
            return False
        others = [r for t in complete for r in [epoch_vectors_of(t).get(step)] if r is not None]
        if len(others) < self.min_trials:
            return False
        rank = self.ranking.ranks([*others, mine[step]])
        return bool(rank[-1] > np.percentile(rank[:-1], self.percentile))


def _record_at(steps: Mapping[int, Record], at: int) -> Record | None:
    """A trial's record at its first reported step at or past ``at``."""
    reached = [s for s in steps if s >= at]
    return steps[min(reached)] if reached else None


def _estimate_min_resource(trials: list[tuple[FrozenTrial, Mapping[int, Record]]]) -> int | None:
    """Optuna's rule for ``min_resource: auto``: a hundredth of the longest complete trial."""
    last = [max(steps) for t, steps in trials if t.state == TrialState.COMPLETE and steps]
    return max(max(last) // 100, 1) if last else None


def _number(value: Any) -> float:
    return (
        float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool)
        else math.nan
    )


__all__ = ["ParetoHyperband", "ParetoPercentile", "ParetoRanking", "ParetoSuccessiveHalving"]
