"""Live progress of a running study: a rich panel at a terminal, plain log lines elsewhere."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from optuna.trial import FrozenTrial, TrialState
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from automl.coordinator.progress import RunState
from automl.report.format import fmt_params, fmt_value
from automl.report.objectives import fmt_objective, metrics_of
from automl.search.attrs import note_of
from automl.search.outcomes import feasible
from automl.studyfile.duration import format_duration

log = logging.getLogger("automl.progress")


def make_progress(
    console: Console, study_name: str, metric_names: Sequence[str] | None = None
) -> RichProgress | PlainProgress:
    """``metric_names``: the objectives' names, for a study with several (else they come from
    each trial's ``metrics`` attribute where it has them in order, or are objective 1, 2, ...)."""
    if console.is_terminal:
        return RichProgress(console, study_name, metric_names)
    return PlainProgress(study_name, metric_names)


def _clock(state: RunState) -> str:
    text = f"elapsed {format_duration(state.elapsed_s)}"
    if state.timeout_s is not None:
        text += (
            f", {format_duration(max(0.0, state.timeout_s - state.elapsed_s))} left of the timeout"
        )
    return text


def _labels(trial: FrozenTrial, metric_names: Sequence[str] | None, n: int) -> list[str]:
    """The objectives' names: those given, else those of the trial's ``metrics`` attribute
    when its first ``n`` entries hold the trial's values, else objective 1, 2, ..."""
    if metric_names is not None and len(metric_names) == n:
        return list(metric_names)
    stored = list(metrics_of(trial).items())[:n]
    values = list(trial.values or ())
    if len(stored) == n and all(
        v is not None and math.isclose(v, w, rel_tol=1e-9)
        for (_, v), w in zip(stored, values, strict=True)
    ):
        return [name for name, _ in stored]
    return [f"objective {i}" for i in range(1, n + 1)]


def _vector(trial: FrozenTrial, metric_names: Sequence[str] | None) -> str:
    """``accuracy 0.9500, params 1200``: a trial's values by name."""
    values = trial.values or []
    labels = _labels(trial, metric_names, len(values))
    return ", ".join(f"{n} {fmt_objective(v)}" for n, v in zip(labels, values, strict=True))


def front_summary(
    front: Sequence[FrozenTrial], metric_names: Sequence[str] | None, k: int = 3
) -> list[str]:
    """Several objectives: the front's size, then its first ``k`` members (lowest numbers)."""
    if not front:
        return ["no Pareto front yet"]
    members = sorted(front, key=lambda t: t.number)
    lines = [f"Pareto front: {len(front)} trial{'s' if len(front) != 1 else ''}"]
    lines += [f"#{t.number}: {_vector(t, metric_names)}" for t in members[:k]]
    if len(members) > k:
        lines.append(f"and {len(members) - k} more")
    return lines


class PlainProgress:
    """One log line per finished trial; for pipes, files and CI logs."""

    def __init__(self, study_name: str, metric_names: Sequence[str] | None = None) -> None:
        self._name = study_name
        self._metric_names = metric_names

    def update(self, state: RunState, finished: FrozenTrial | None = None) -> None:
        if finished is None:
            return
        note = note_of(finished)
        if finished.state == TrialState.COMPLETE and not feasible(finished):
            note = "infeasible: breaks a constraint"
        multi = (
            len(self._metric_names or ()) > 1 or len(finished.values or ()) > 1 or bool(state.front)
        )
        if multi:  # several objectives
            value = _vector(finished, self._metric_names) if finished.values else "-"
            best = "; ".join(front_summary(state.front, self._metric_names))
        else:
            value = fmt_value(finished.value)
            best = (
                f"best {fmt_value(state.best.value)} (#{state.best.number})"
                if state.best
                else "no best yet"
            )
        log.info(
            "%s: trial %d %s %s%s | %d/%d done, %d running, %s | %s",
            self._name,
            finished.number,
            finished.state.name,
            value,
            f" ({note})" if note else "",
            state.done,
            state.n_trials,
            len(state.running),
            best,
            _clock(state),
        )

    def close(self) -> None:
        return None


class RichProgress:
    """A live panel: counts, best value and params, clock, running trials."""

    def __init__(
        self, console: Console, study_name: str, metric_names: Sequence[str] | None = None
    ) -> None:
        self._name = study_name
        self._metric_names = metric_names
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
            lines.append(
                Text(
                    f"best {fmt_value(state.best.value)} (trial {state.best.number}): "
                    f"{fmt_params(state.best.params)}"
                )
            )
        elif state.front:  # several objectives
            lines += [Text(line) for line in front_summary(state.front, self._metric_names)]
        if state.stopping:
            lines.append(
                Text(f"stopping: {state.stop_words}; waiting for running trials", style="dim")
            )
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
