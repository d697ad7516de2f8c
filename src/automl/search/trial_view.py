"""One trial as every output shows it: `automl status`, the end-of-run summary, the HTML
report and the trackers all read a stored trial through :class:`TrialView`.

The view is built in one place from the stored trial (a :class:`FrozenTrial`, whether Optuna,
a query or the journal reader gave it) through the safe readers of :mod:`automl.search.attrs`,
so a value of the wrong type reads as absent everywhere alike. Each output names the fields it
shows as data (``report/columns.py``, the trackers' ``TAG_FIELDS`` and ``SUMMARY_FIELDS``);
a new attribute is a property here and a name in those lists.

Fields are read when first asked for, so a view of a trial costs only what its output shows.

>>> from optuna.trial import create_trial
>>> t = create_trial(value=0.9, user_attrs={"host": "gpu-1", "slot": "cuda:0", "best_epoch": 3})
>>> v = TrialView(t, objective_names(1, None))
>>> v.value, v.values, v.worker, v.best_epoch
(0.9, {'value': 0.9}, 'gpu-1 cuda:0', 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from automl.search.attrs import (
    best_epoch_of,
    checkpoint_epoch_of,
    duration_s_of,
    fail_kind_of,
    host_of,
    note_of,
    pruned_at_epoch_of,
    resumed_from_epoch_of,
    slot_of,
)
from automl.search.outcomes import feasible
from automl.search.series import (
    curve_of,
    fold_curves_of,
    health_of,
    train_loss_of,
    user_metrics_of,
)
from automl.search.vectors import epoch_vectors_of
from automl.trial_attrs import FailKind

__all__ = ["TrialView", "objective_names"]


def objective_names(n_objectives: int, metric_names: Sequence[str] | None) -> list[str]:
    """The objectives' names: the study's metric names (set by automl), else ``value`` for
    one objective and ``objective 1``, ``objective 2``, ... for several.

    >>> objective_names(1, None), objective_names(2, None), objective_names(2, ["acc", "params"])
    (['value'], ['objective 1', 'objective 2'], ['acc', 'params'])
    """
    if metric_names is not None and len(metric_names) == n_objectives:
        return list(metric_names)
    return [f"objective {i}" for i in range(1, n_objectives + 1)] if n_objectives > 1 else ["value"]


class TrialView:
    """What the outputs show of one stored trial.

    ``names``: the study's objective names, in order (see :func:`objective_names`); ``now``
    (seconds since the epoch): when the view is taken, for :attr:`age_s`; ``on_front``: the
    trial is on the study's Pareto front (several objectives).
    """

    def __init__(
        self,
        trial: FrozenTrial,
        names: Sequence[str],
        *,
        now: float | None = None,
        on_front: bool = False,
    ) -> None:
        self.trial = trial
        self.names = list(names)
        self.now = now
        self.on_front = on_front

    # What Optuna stores.
    @property
    def number(self) -> int:
        return self.trial.number

    @property
    def state(self) -> TrialState:
        return self.trial.state

    @property
    def params(self) -> dict[str, Any]:
        return self.trial.params

    @property
    def multi(self) -> bool:
        return len(self.names) > 1

    @cached_property
    def values(self) -> dict[str, float | None]:
        """The objectives' values by name; {} unless the trial is COMPLETE."""
        if self.state != TrialState.COMPLETE or self.trial.values is None:
            return {}
        return dict(zip(self.names, self.trial.values, strict=False))

    @property
    def value(self) -> float | None:
        """The value of a COMPLETE trial of one objective; None otherwise."""
        return None if self.multi else self.values.get(self.names[0]) if self.names else None

    @property
    def started_at(self) -> float | None:
        """Seconds since the epoch when the trial started; None while it waits."""
        return self.trial.datetime_start.timestamp() if self.trial.datetime_start else None

    @property
    def ended_at(self) -> float | None:
        return self.trial.datetime_complete.timestamp() if self.trial.datetime_complete else None

    @property
    def elapsed_s(self) -> float | None:
        """Seconds from start to end as the storage recorded them (Optuna's ``duration``)."""
        return self.trial.duration.total_seconds() if self.trial.duration else None

    @property
    def age_s(self) -> float | None:
        """Seconds since the trial started, to 0.1 s, at ``now``; None without either."""
        start = self.started_at
        return None if start is None or self.now is None else round(self.now - start, 1)

    @cached_property
    def last_epoch(self) -> int | None:
        """The last epoch reported: Optuna's last step, or with several objectives (which Optuna
        keeps no intermediate values for) the last epoch of the ``intermediate_values``
        attribute."""
        if not self.multi:
            return self.trial.last_step
        return max(epoch_vectors_of(self.trial), default=None)

    @property
    def feasible(self) -> bool:
        """Every constraint <= 0 (a trial without constraints is feasible)."""
        return feasible(self.trial)

    @property
    def standing(self) -> str:
        """Several objectives: ``front`` on the Pareto front, ``infeasible`` a COMPLETE trial that
        breaks a constraint, else ""."""
        if self.on_front:
            return "front"
        return "infeasible" if self.values and not self.feasible else ""

    # What the worker and the coordinator write (automl.trial_attrs), read safely.
    @cached_property
    def host(self) -> str | None:
        return host_of(self.trial)

    @cached_property
    def slot(self) -> str | None:
        return slot_of(self.trial)

    @property
    def worker(self) -> str:
        """Host and slot, as "host slot"; "" when neither is recorded."""
        return " ".join(part for part in (self.host, self.slot) if part)

    @cached_property
    def duration_s(self) -> float | None:
        """Seconds the worker spent on the trial (its ``duration_s``); None when absent."""
        return duration_s_of(self.trial)

    @cached_property
    def best_epoch(self) -> int | None:
        return best_epoch_of(self.trial)

    @cached_property
    def checkpoint_epoch(self) -> int | None:
        return checkpoint_epoch_of(self.trial)

    @cached_property
    def resumed_from_epoch(self) -> int | None:
        return resumed_from_epoch_of(self.trial)

    @cached_property
    def pruned_at_epoch(self) -> int | None:
        return pruned_at_epoch_of(self.trial)

    @cached_property
    def note(self) -> str:
        """Why it ended as it did: a FAIL trial's reason, a PRUNED trial's, else ""."""
        return note_of(self.trial)

    @property
    def reason(self) -> str | None:
        """:attr:`note`, None when empty."""
        return self.note or None

    @property
    def story(self) -> str:
        """:attr:`note`, said after a resume when the trial resumed from a checkpoint."""
        resumed = self.resumed_from_epoch
        if not resumed:
            return self.note
        return f"resumed from the checkpoint of epoch {resumed}" + (
            f"; {self.note}" if self.note else ""
        )

    @cached_property
    def fail_kind(self) -> FailKind | None:
        """A FAIL trial's kind of failure (None for any other state)."""
        return fail_kind_of(self.trial)

    # What training writes, per epoch.
    @cached_property
    def curve(self) -> list[float | None]:
        return curve_of(self.trial)

    @property
    def epochs_run(self) -> int:
        """Epochs with a score (the length of the curve)."""
        return len(self.curve)

    @cached_property
    def fold_curves(self) -> list[list[float | None]]:
        return fold_curves_of(self.trial)

    @cached_property
    def train_loss(self) -> list[float | None]:
        return train_loss_of(self.trial)

    @cached_property
    def health(self) -> dict[str, Any]:
        return health_of(self.trial)

    @cached_property
    def user_metrics(self) -> dict[str, list[float | None]]:
        return user_metrics_of(self.trial)

    def fields(self, names: Sequence[str]) -> dict[str, Any]:
        """The named fields, as a dict (for JSON and trackers)."""
        return {name: getattr(self, name) for name in names}
