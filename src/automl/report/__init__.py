"""What people read: live progress, status and summary tables, the HTML report.

The names below are imported on first use, so that a command that needs one module of this
package (``automl status`` reads ``summary``) does not import the others (``progress`` imports
the coordinator).
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "PlainProgress": "progress", "RichProgress": "progress", "make_progress": "progress",
    "study_status": "summary", "summary_table": "summary", "top_trials": "summary",
}  # fmt: skip

__all__ = [
    "PlainProgress", "RichProgress", "make_progress", "study_status", "summary_table", "top_trials",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"automl.report.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'automl.report' has no attribute {name!r}")
