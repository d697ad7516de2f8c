"""`automl status`: counts by state, the best trial (or the Pareto front), running trials, failure reasons."""

from __future__ import annotations

import argparse
import gc
import json
import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from automl.cli.common import add_study_flags, storage_for_study
from automl.report.format import fmt_params, fmt_value
from automl.report.objectives import fmt_objective
from automl.report.summary import status_info
from automl.search.status_read import read_status


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
        facts = read_status(storage, name)
    finally:
        if gc.get_count()[0] > 100_000:
            gc.freeze()
        gc.enable()
    info = status_info(facts, time.time())
    if args.json:
        console.print_json(json.dumps(info, default=str))
        return 0
    counts = ", ".join(f"{k} {v}" for k, v in sorted(info["counts"].items())) or "no trials yet"
    multi = "front" in info
    if multi:
        direction = ", ".join(f"{n} {d}" for n, d in zip(info["metric_names"], info["directions"], strict=True))
    else:
        direction = info["direction"]
    console.print(f"[bold]{escape(name)}[/bold] ({escape(direction)}): {counts}")
    best = info["best"]
    if best:
        console.print(f"best {fmt_value(best['value'])} (trial {best['number']}): {escape(fmt_params(best['params'], 20))}")
    if multi:
        _print_front(console, info["front"], info["metric_names"])
    if info["running"]:
        table = Table(title="running")
        for col in ("trial", "worker", "age", "epoch", "checkpoint", "params"):
            table.add_column(col)
        for r in info["running"]:
            worker = f"{r['host'] or '?'} {r['slot'] or ''}".strip()
            saved = f"epoch {r['checkpoint_epoch']}" if r["checkpoint_epoch"] else "-"
            if r["resumed_from_epoch"]:
                saved += f" (resumed after {r['resumed_from_epoch']})"
            age = f"{r['age_s']:.0f}s" if r["age_s"] is not None else "-"
            table.add_row(str(r["number"]), Text(worker), age, str(r["last_epoch"] or "-"), saved, Text(fmt_params(r["params"])))
        console.print(table)
    for reason, n in info["failure_reasons"].items():
        console.print(f"[red]failed[/red] {n}x: {escape(reason)}")
    return 0


def _print_front(console: Console, front: list[dict[str, Any]], names: list[str]) -> None:
    """Several objectives: the Pareto front (feasible trials no other one dominates)."""
    if not front:
        console.print("Pareto front: no feasible complete trial yet")
        return
    table = Table(title=f"Pareto front ({len(front)} trial{'s' if len(front) != 1 else ''})")
    table.add_column("trial", justify="right")
    for n in names:
        table.add_column(Text(n), justify="right")
    table.add_column("hyperparameters")  # "params" may be an objective (the model's size)
    for t in front:
        values = [fmt_objective(t["values"][n]) for n in names]
        table.add_row(str(t["number"]), *values, Text(fmt_params(t["params"], 20)))
    console.print(table)
