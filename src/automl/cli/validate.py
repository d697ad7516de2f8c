"""`automl validate SPEC`: check a study file and print the resolved search space; writes
nothing."""

from __future__ import annotations

import argparse
import json
import shlex

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from automl.cli.common import add_run_flags
from automl.cli.prerun import check_run
from automl.masking import mask_url
from automl.search.study import stored_spec
from automl.studyfile import StudySpec, describe
from automl.studyfile.duration import format_duration
from automl.studyfile.schema import TrainCommand
from automl.studyfile.space import sample_params


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="SPEC", help="the study file (YAML)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the resolved study file and the choices made as JSON",
    )
    add_run_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    checked = check_run(args)
    spec, dataset, choices, checkpoints = (
        checked.spec,
        checked.dataset,
        checked.choices,
        checked.checkpoints,
    )
    if args.json:
        picked = [{"field": c.field, "value": c.value, "why": c.why} for c in choices]
        console.print_json(json.dumps({"study": stored_spec(spec), "chosen": picked}))
        return 0
    what = _what_trains(spec)
    console.print(
        f"[bold]{escape(spec.name)}[/bold]: {escape(spec.describe_objectives())} {escape(what)}; "
        f"sampler {spec.search.sampler.type}, pruner {spec.search.pruner.type}; "
        f"{spec.search.n_trials} trials, {spec.execution.parallelism} at a time on "
        f"{spec.execution.backend.value}; storage {escape(mask_url(spec.storage))}"
    )
    table = Table(title="search space")
    table.add_column("parameter")
    table.add_column("values")
    for name, entry in spec.space.items():
        table.add_row(Text(name), Text(describe(entry)))
    console.print(table)
    if choices:
        chosen = Table(title="chosen for you (the study file left these out)")
        for column in ("field", "value", "why"):
            chosen.add_column(column)
        for c in choices:
            chosen.add_row(Text(c.field), Text(c.value), Text(c.why))
        console.print(chosen)
    if dataset is not None:
        shape = "x".join(str(d) for d in dataset.input_shape)
        classes = f", {dataset.n_classes} classes" if dataset.n_classes else ""
        console.print(
            f"data: {len(dataset.X_train)} training rows (+{len(dataset.X_test)} held "
            f"out), inputs {shape}{classes}"
        )
    if spec.search.enqueue:
        console.print(f"{len(spec.search.enqueue)} start point(s) enqueued first")
    if isinstance(spec.train, TrainCommand):
        _print_program(spec, spec.train, console)
    if checkpoints is None:
        console.print(
            "checkpoints: off (a trial whose worker dies starts again from epoch 0)",
            highlight=False,
        )
    elif spec.own_code:
        console.print(f"checkpoints: to {checkpoints}, when your code saves them", highlight=False)
    else:
        console.print(
            f"checkpoints: every {spec.trainer.checkpoint_every} to {checkpoints}", highlight=False
        )
    console.print("[green]ok[/green]")
    return 0


def _print_program(spec: StudySpec, train: TrainCommand, console: Console) -> None:
    """The exact command line of a sample trial, and where its values are read from."""
    from automl.usercode.command import build_command, resume_args

    sample = sample_params(spec.space)
    line = shlex.join(build_command(train, sample, 0, "CHECKPOINT_DIR"))
    console.print(Text(f"a trial runs (sample params {sample}): {line}"))
    if train.resume:
        again = resume_args(train, {"checkpoint_dir": "CHECKPOINT_DIR", "trial": "0"})
        console.print(
            Text(f"a trial that resumes its restored folder also gets: {shlex.join(again)}")
        )
    sources = train.sources()
    for name, source in sources.items():
        console.print(
            Text(
                f"{name or spec.primary.name}: read from {source.describe()} (final: "
                f"{source.final}), besides JSON lines"
            )
        )


def _what_trains(spec: StudySpec) -> str:
    if isinstance(spec.train, TrainCommand):
        timeout = f", timeout {format_duration(spec.train.timeout)}" if spec.train.timeout else ""
        return f"from the program {shlex.join(spec.train.command)}{timeout}"
    if spec.train is not None:
        return f"from your function {spec.train}"
    return (f"on {spec.dataset.source}; model {spec.model.family}, {spec.trainer.epochs} epochs, "
            f"{spec.dataset.cv.describe()}")  # fmt: skip
