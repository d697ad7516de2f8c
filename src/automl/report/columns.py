"""The columns each view of trials shows, as data, and how a column becomes a cell.

Every table of trials (the end-of-run summary, `automl status`, the HTML report) renders
:class:`automl.search.trial_view.TrialView` objects through a tuple of column keys below; the
key :data:`OBJECTIVES` stands for one column per objective. Showing a new field in a table is
a :class:`Column` here and its key in that table's tuple.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text

from automl.report.format import fmt_params, fmt_value
from automl.report.objectives import fmt_objective
from automl.search.trial_view import TrialView

OBJECTIVES = "objectives"  # one column per objective, headed by its name


@dataclass(frozen=True)
class Column:
    """One column: its header, the field it shows, and how.

    ``get`` reads the field from the view; ``show`` turns a value that is not None into text
    (a missing value shows as the table's blank: "-" in a terminal, "" in HTML, unless
    ``blank`` says otherwise); ``sort`` is what the HTML table sorts by (default: the value).
    """

    header: str
    get: Callable[[TrialView], Any]
    show: Callable[[Any], str] = str
    numeric: bool = False
    blank: str | None = None
    sort: Callable[[TrialView], Any] | None = None
    css: Callable[[TrialView], str] | None = None  # the HTML cell's class (default: num or none)

    def text(self, view: TrialView, blank: str) -> str:
        value = self.get(view)
        if value is None or value == "":
            return self.blank if self.blank is not None else blank
        return self.show(value)

    def sort_value(self, view: TrialView) -> Any:
        return (self.sort or self.get)(view)


def _checkpoint(view: TrialView) -> str | None:
    saved = f"epoch {view.checkpoint_epoch}" if view.checkpoint_epoch else "-"
    resumed = view.resumed_from_epoch
    return saved + (f" (resumed after {resumed})" if resumed else "")


def _params(limit: int) -> Callable[[dict[str, Any]], str]:
    return lambda params: fmt_params(params, limit)


def _sorted_params(view: TrialView) -> str:
    return json.dumps(view.params, sort_keys=True, default=str)


COLUMNS: dict[str, Column] = {
    "trial": Column("trial", lambda v: v.number, numeric=True),
    "state": Column(
        "state",
        lambda v: v.state.name.lower(),
        sort=lambda v: v.state.name,
        css=lambda v: v.state.name,
    ),
    "value": Column("value", lambda v: v.value, fmt_value, numeric=True, blank="-"),
    "front": Column("front", lambda v: v.standing),
    "best epoch": Column("best epoch", lambda v: v.best_epoch, numeric=True),
    "last epoch": Column("last epoch", lambda v: v.last_epoch, numeric=True),
    "epoch": Column("epoch", lambda v: v.last_epoch or None),
    "duration (s)": Column(
        "duration (s)", lambda v: v.elapsed_s, lambda s: f"{s:.1f}", numeric=True
    ),
    "worker": Column("worker", lambda v: v.worker),
    # automl status: a running trial's worker, "?" for a host not recorded yet
    "running on": Column("worker", lambda v: f"{v.host or '?'} {v.slot or ''}".strip()),
    "age": Column("age", lambda v: v.age_s, lambda s: f"{s:.0f}s"),
    "checkpoint": Column("checkpoint", _checkpoint),
    "params": Column("params", lambda v: v.params, _params(12), sort=_sorted_params),
    "params (8)": Column("params", lambda v: v.params, _params(8)),
    "params (50)": Column("params", lambda v: v.params, _params(50), sort=_sorted_params),
    # "params" may be an objective's name (the model's size): with several, they are these
    "hyperparameters": Column("hyperparameters", lambda v: v.params, _params(12)),
    "hyperparameters (20)": Column("hyperparameters", lambda v: v.params, _params(20)),
    "hyperparameters (50)": Column(
        "hyperparameters", lambda v: v.params, _params(50), sort=_sorted_params
    ),
    "reason": Column("reason", lambda v: v.story),
}

# What each table shows, in order.
SUMMARY = ("trial", "value", "best epoch", "params")  # end of run, one objective: the top trials
SUMMARY_FRONT = ("trial", OBJECTIVES, "best epoch", "hyperparameters")  # several: the front
STATUS_RUNNING = ("trial", "running on", "age", "epoch", "checkpoint", "params (8)")
STATUS_FRONT = ("trial", OBJECTIVES, "hyperparameters (20)")
REPORT = (
    "trial",
    "state",
    "value",
    "best epoch",
    "last epoch",
    "duration (s)",
    "worker",
    "params (50)",
    "reason",
)
REPORT_FRONT = (
    "trial",
    "state",
    OBJECTIVES,
    "front",
    "best epoch",
    "last epoch",
    "duration (s)",
    "worker",
    "hyperparameters (50)",
    "reason",
)

# automl status --json: the fields of each trial it lists.
STATUS_RUNNING_FIELDS = (
    "number",
    "params",
    "host",
    "slot",
    "age_s",
    "last_epoch",
    "checkpoint_epoch",
    "resumed_from_epoch",
)
STATUS_BEST_FIELDS = ("number", "value", "params", "best_epoch")
STATUS_FRONT_FIELDS = ("number", "values", "params", "best_epoch")


def columns_of(keys: Sequence[str], names: Sequence[str]) -> list[Column]:
    """The columns of ``keys``, :data:`OBJECTIVES` spelled out as one per name in ``names``."""
    out: list[Column] = []
    for key in keys:
        if key == OBJECTIVES:
            out += [_objective(name) for name in names]
        else:
            out.append(COLUMNS[key])
    return out


def _objective(name: str) -> Column:
    return Column(name, lambda v: v.values.get(name), fmt_objective, numeric=True, blank="-")


def rich_table(
    keys: Sequence[str], views: Sequence[TrialView], names: Sequence[str], **table: Any
) -> Table:
    """A terminal table of ``views`` with the columns of ``keys`` (numbers to the right; a
    missing value shows as "-"); ``table``: rich's Table arguments (title, caption)."""
    columns = columns_of(keys, names)
    out = Table(**table)
    for column in columns:
        out.add_column(Text(column.header), justify="right" if column.numeric else "left")
    for view in views:
        out.add_row(*(Text(column.text(view, "-")) for column in columns))
    return out


def best_line(view: TrialView, params: int, metric: str = "") -> str:
    """``best 0.9500 (trial 4, epoch 7): lr=0.01, width=32``, the params cut at ``params``;
    ``metric``: the objective's name, said after "best"."""
    best = f"best {metric} " if metric else "best "
    epoch = view.best_epoch or "?"
    return (
        f"{best}{fmt_value(view.value)} (trial {view.number}, epoch {epoch}): "
        f"{fmt_params(view.params, params)}"
    )
