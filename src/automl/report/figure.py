"""One figure of the HTML report, and Optuna's plots drawn into one."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import plotly.graph_objects as go


@dataclass
class Figure:
    key: str  # the element id in the page
    title: str
    figure: go.Figure | None
    missing: str = ""  # why there is no figure


def optuna_figure(key: str, title: str, draw: Callable[[], go.Figure], missing: str) -> Figure:
    """A plot of Optuna's visualisation module; ``missing`` (why not) skips drawing it."""
    if missing:
        return Figure(key, title, None, missing)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "experimental" notes and the like
            fig = draw()
    except (ValueError, RuntimeError) as exc:  # e.g. importances with a constant objective
        return Figure(key, title, None, f"Optuna could not draw it: {exc}")
    # Optuna fixes some widths (slices); let the page decide.
    fig.update_layout(title=None, margin={"t": 30}, width=None, autosize=True)
    return Figure(key, title, fig)
