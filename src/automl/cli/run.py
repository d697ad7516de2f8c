"""`automl run SPEC`: create or resume the study and drive it to its budget."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape

from automl.backends.factory import create_backend
from automl.cli.common import add_storage_flag, load_with_overrides, resolve_study
from automl.coordinator import Coordinator
from automl.errors import UsageError
from automl.report import make_progress, summary_table
from automl.report.format import fmt_params, fmt_value
from automl.report.summary import best_trial
from automl.search import build_pruner, build_sampler, mask_url, open_study
from automl.search.attrs import best_epoch_of
from automl.search.checkpoints import checkpoint_location, open_store
from automl.spec import BackendKind, parse_duration
from automl.tracking import log_study


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="create or resume a study and drive it to its budget")
    p.add_argument("spec", metavar="SPEC", help="the study file (YAML)")
    p.add_argument("--backend", choices=[b.value for b in BackendKind], help="where trials run (default: the file's)")
    p.add_argument("--parallelism", type=int, metavar="N", help="trials in flight at once")
    p.add_argument("--n-trials", type=int, metavar="N", help="trials with a result (complete or pruned) in the study")
    p.add_argument("--timeout", metavar="DURATION", help="stop dispatching after this long, e.g. 90s, 30m, 2h")
    add_storage_flag(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    timeout = None
    if args.timeout is not None:
        try:
            timeout = parse_duration(args.timeout)
        except ValueError as exc:
            raise UsageError(f"--timeout: {exc}") from None
    spec = load_with_overrides(
        args.spec,
        {
            "storage": args.storage,
            "execution.backend": args.backend,
            "execution.parallelism": args.parallelism,
            "search.n_trials": args.n_trials,
            "search.timeout": timeout,
        },
    )
    spec, _dataset, choices = resolve_study(spec)
    build_sampler(spec.search.sampler, spec.space)
    build_pruner(spec.search.pruner)
    backend = create_backend(spec, spec.storage)
    checkpoints = checkpoint_location(spec, spec.storage)
    if checkpoints is not None:
        open_store(checkpoints)  # a location of the wrong kind is refused before anything is written
    # Everything the user wrote has been checked; from here on things get written.
    study = open_study(spec, spec.storage)
    if choices:
        console.print("chosen for you: " + "; ".join(f"{c.field} {c.value}" for c in choices if c.field != "space")
                      + " (see `automl validate` for why)", highlight=False, markup=False)  # fmt: skip
    console.print(
        f"study [bold]{escape(spec.name)}[/bold] in {escape(mask_url(spec.storage))}: "
        f"{spec.search.n_trials} trials, {spec.execution.parallelism} at a time on {spec.execution.backend.value}"
    )
    if checkpoints is None and spec.trainer.checkpoint_every != "none":
        console.print("note: no execution.checkpoints, so a trial whose worker dies starts again from epoch 0",
                      highlight=False)  # fmt: skip
    progress = make_progress(console, spec.name)
    try:
        state = Coordinator(spec, study, backend, progress).run()
    finally:
        progress.close()
    console.print(summary_table(study))
    log_study(study, spec, spec.storage)  # the trackers' study summary; never raises
    best = best_trial(study)
    if best is None:
        console.print(f"no trial completed ({state.stopping})", markup=False)
        return 1
    console.print(
        f"best {spec.objective.name} {fmt_value(best.value)} (trial {best.number}, "
        f"epoch {best_epoch_of(best) or '?'}): {fmt_params(best.params, 30)}", markup=False
    )
    console.print(f"stopped: {state.stopping}", markup=False)
    return 0

