"""Live progress of a running study: a rich panel at a terminal, plain log lines elsewhere."""

from __future__ import annotations

import logging
from typing import Any

from optuna.trial import FrozenTrial
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from automl.coordinator.progress import RunState
from automl.report.format import fmt_params, fmt_value
from automl.search.attrs import note_of
from automl.studyfile.duration import format_duration

log = logging.getLogger("automl.progress")


def make_progress(console: Console, study_name: str) -> RichProgress | PlainProgress:
    return RichProgress(console, study_name) if console.is_terminal else PlainProgress(study_name)


def _clock(state: RunState) -> str:
    text = f"elapsed {format_duration(state.elapsed_s)}"
    if state.timeout_s is not None:
        text += f", {format_duration(max(0.0, state.timeout_s - state.elapsed_s))} left of the timeout"
    return text


class PlainProgress:
    """One log line per finished trial; for pipes, files and CI logs."""

    def __init__(self, study_name: str) -> None:
        self._name = study_name

    def update(self, state: RunState, finished: FrozenTrial | None = None) -> None:
        if finished is None:
            return
        note = note_of(finished)
        best = f"best {fmt_value(state.best.value)} (#{state.best.number})" if state.best else "no best yet"
        log.info(
            "%s: trial %d %s %s%s | %d/%d done, %d running, %s | %s",
            self._name, finished.number, finished.state.name, fmt_value(finished.value),
            f" ({note})" if note else "", state.done, state.n_trials, len(state.running), best, _clock(state),
        )  # fmt: skip

    def close(self) -> None:
        return None


class RichProgress:
    """A live panel: counts, best value and params, clock, running trials."""

    def __init__(self, console: Console, study_name: str) -> None:
        self._name = study_name
        self._live = Live(console=console, refresh_per_second=4, transient=True)
        self._live.start()

    def update(self, state: RunState, finished: FrozenTrial | None = None) -> None:
        self._live.update(self._render(state))

    def _render(self, state: RunState) -> Any:
        c = state.counts
        head = Text.assemble(
            (f"{self._name}  ", "bold"),
            f"{state.done}/{state.n_trials} done  ",
            (f"complete {c.get('COMPLETE', 0)}  ", "green"),
            (f"pruned {c.get('PRUNED', 0)}  ", "yellow"),
            (f"failed {c.get('FAIL', 0)}  ", "red"),
            (f"running {len(state.running)}  ", "cyan"),
            _clock(state),
        )
        lines: list[Any] = [head]
        if state.best is not None:
            lines.append(Text(f"best {fmt_value(state.best.value)} (trial {state.best.number}): {fmt_params(state.best.params)}"))
        if state.stopping:
            lines.append(Text(f"stopping: {state.stopping}; waiting for running trials", style="dim"))
        if state.running:
            table = Table(show_header=True, header_style="dim", box=None, pad_edge=False)
            table.add_column("running")
            table.add_column("params")
            for number, params in sorted(state.running.items()):
                table.add_row(str(number), Text(fmt_params(params)))
            lines.append(table)
        return Group(*lines)

    def close(self) -> None:
        self._live.stop()
