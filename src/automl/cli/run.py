"""`automl run SPEC`: create or resume the study and drive it to its budget."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape

from automl.backends.factory import create_backend
from automl.cli.common import add_run_flags
from automl.cli.prerun import check_run
from automl.coordinator import Coordinator
from automl.masking import mask_url
from automl.report import make_progress, summary_table
from automl.report.columns import best_line
from automl.report.summary import front_lines
from automl.search import open_study
from automl.search.outcomes import best_trial
from automl.search.trial_view import TrialView
from automl.tracking import log_study


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="SPEC", help="the study file (YAML)")
    add_run_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    checked = check_run(args)
    spec, choices, checkpoints = checked.spec, checked.choices, checked.checkpoints
    backend = create_backend(spec, spec.storage, args.settings)
    # Everything the user wrote has been checked; from here on things get written.
    study = open_study(
        spec,
        spec.storage,
        sampler=checked.sampler,
        pruner=checked.pruner,
        retry_s=args.settings.storage_retry_s,
    )
    if choices:
        console.print(
            "chosen for you: "
            + "; ".join(f"{c.field} {c.value}" for c in choices if c.field != "space")
            + " (see `automl validate` for why)",
            highlight=False,
            markup=False,
        )
    console.print(
        f"study [bold]{escape(spec.name)}[/bold] in {escape(mask_url(spec.storage))}: "
        f"{spec.search.n_trials} trials, {spec.execution.parallelism} at a time on "
        f"{spec.execution.backend.value}"
    )
    if checkpoints is None and spec.trainer.checkpoint_every != "none":
        console.print(
            "note: no execution.checkpoints, so a trial whose worker dies starts again "
            "from epoch 0",
            highlight=False,
        )
    progress = make_progress(console, spec.name, spec.objective_names)
    try:
        state = Coordinator(spec, study, backend, progress, settings=args.settings).run()
    finally:
        progress.close()
    console.print(summary_table(study))
    log_study(study, spec, spec.storage)  # the trackers' study summary; never raises
    if spec.multi:  # several objectives: the Pareto front's size and its first members by name
        lines = front_lines(study)
        if not lines:
            console.print(f"no feasible trial completed ({state.stop_words})", markup=False)
            return 1
        console.print("\n".join(lines), markup=False, highlight=False)
    elif (best := best_trial(study)) is None:
        console.print(f"no trial completed ({state.stop_words})", markup=False)
        return 1
    else:
        console.print(
            best_line(TrialView(best, spec.objective_names), 30, spec.primary.name), markup=False
        )
    console.print(f"stopped: {state.stop_words}", markup=False)
    return 0
