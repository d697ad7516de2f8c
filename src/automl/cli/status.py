"""`automl status`: counts by state, the best trial (or the Pareto front), running trials, failure
reasons."""

from __future__ import annotations

import argparse
import gc
import json
import time

from rich.console import Console
from rich.markup import escape

from automl.cli.common import add_study_flags, storage_for_study
from automl.report.columns import STATUS_FRONT, STATUS_RUNNING, best_line, rich_table
from automl.report.summary import front_views, names_of, running_views, status_info
from automl.search.status_read import read_status
from automl.search.trial_view import TrialView


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_study_flags(p)
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    storage, name = storage_for_study(args)
    # Reading a study of 100,000 trials makes millions of objects and no garbage, and the
    # collector would walk them again and again (Redis: 7.5 s instead of 3 s to load Optuna's
    # snapshot). After a large read they are frozen: the collector turned back on leaves them.
    gc.disable()
    try:
        facts = read_status(storage, name, retry_s=args.settings.storage_retry_s)
    finally:
        if gc.get_count()[0] > 100_000:
            gc.freeze()
        gc.enable()
    now = time.time()
    info = status_info(facts, now)
    if args.json:
        console.print_json(json.dumps(info, default=str))
        return 0
    counts = ", ".join(f"{k} {v}" for k, v in sorted(info["counts"].items())) or "no trials yet"
    multi = "front" in info
    if multi:
        direction = ", ".join(
            f"{n} {d}" for n, d in zip(info["metric_names"], info["directions"], strict=True)
        )
    else:
        direction = info["direction"]
    console.print(f"[bold]{escape(name)}[/bold] ({escape(direction)}): {counts}")
    if facts.best is not None:  # one objective
        names = names_of(facts)
        metric = names[0] if facts.metric_names else ""  # the objective's name, as run says it
        console.print(escape(best_line(TrialView(facts.best, names), 20, metric)))
    if multi:
        _print_front(console, front_views(facts), info["metric_names"])
    running = running_views(facts, now)
    if running:
        console.print(rich_table(STATUS_RUNNING, running, [], title="running"))
    for reason, n in info["failure_reasons"].items():
        console.print(f"[red]failed[/red] {n}x: {escape(reason)}")
    return 0


def _print_front(console: Console, front: list[TrialView], names: list[str]) -> None:
    """Several objectives: the Pareto front (feasible trials no other one dominates)."""
    if not front:
        console.print("Pareto front: no feasible complete trial yet")
        return
    title = f"Pareto front ({len(front)} trial{'s' if len(front) != 1 else ''})"
    console.print(rich_table(STATUS_FRONT, front, names, title=title))
