"""The columns each table shows are data: every key names a column, and each table renders
the same trial through the same view."""

from __future__ import annotations

import io
from typing import Any

from optuna.trial import FrozenTrial, TrialState, create_trial
from rich.console import Console

from automl.report import columns
from automl.search.trial_view import TrialView
from automl.tracking.base import RECORD_FIELDS, SUMMARY_FIELDS, TrialRecord


def trial(number: int = 0, **kwargs: Any) -> FrozenTrial:
    t = create_trial(**kwargs)
    t.number = number
    return t


TABLES = {
    name: keys for name, keys in vars(columns).items() if name.isupper() and isinstance(keys, tuple)
}


def test_every_table_names_known_columns_and_fields() -> None:
    assert {
        "SUMMARY",
        "SUMMARY_FRONT",
        "STATUS_RUNNING",
        "STATUS_FRONT",
        "REPORT",
        "REPORT_FRONT",
    } <= set(TABLES)
    view = TrialView(trial(value=1.0), ["value"])
    for name, keys in TABLES.items():
        if name.endswith("_FIELDS"):  # automl status --json: fields of the view
            assert all(hasattr(view, key) for key in keys), name
        else:
            assert all(key in columns.COLUMNS or key == columns.OBJECTIVES for key in keys), name
    assert all(hasattr(view, key) for key in RECORD_FIELDS)  # the trackers' record, from the view
    assert set(SUMMARY_FIELDS) <= set(TrialRecord.__dataclass_fields__)


def test_objectives_spell_out_one_column_each() -> None:
    cols = columns.columns_of(columns.SUMMARY_FRONT, ["accuracy", "params"])
    assert [c.header for c in cols] == [
        "trial",
        "accuracy",
        "params",
        "best epoch",
        "hyperparameters",
    ]
    view = TrialView(trial(values=[0.95, 3000.0]), ["accuracy", "params"])
    assert [c.text(view, "-") for c in cols[1:3]] == ["0.9500", "3000"]


def test_a_missing_value_is_the_tables_blank() -> None:
    view = TrialView(
        trial(state=TrialState.PRUNED, user_attrs={"prune_reason": "diverged"}), ["value"]
    )
    cols = {c.header: c for c in columns.columns_of(columns.REPORT, ["value"])}
    assert cols["best epoch"].text(view, "") == "" and cols["best epoch"].text(view, "-") == "-"
    assert cols["value"].text(view, "") == "-" and cols["reason"].text(view, "") == "diverged"
    table = columns.rich_table(columns.SUMMARY, [view], ["value"], title="t")
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(table)
    assert "│     0 │     - │          - │" in out.getvalue()


def test_the_best_line_is_the_same_everywhere() -> None:
    view = TrialView(trial(value=0.5, user_attrs={"best_epoch": 4}), ["accuracy"])
    assert columns.best_line(view, 20, "accuracy") == "best accuracy 0.5000 (trial 0, epoch 4): "
    assert (
        columns.best_line(TrialView(trial(value=0.5), ["v"]), 20)
        == "best 0.5000 (trial 0, epoch ?): "
    )
