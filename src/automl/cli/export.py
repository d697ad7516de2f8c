"""`automl export`: retrain the best configuration, score it on the held-out test split, save it."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from rich.console import Console

from automl.artifacts.export import export_best
from automl.cli.common import add_study_flags, storage_for_study
from automl.errors import UsageError
from automl.report.format import fmt_value
from automl.search import load_study


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_study_flags(p)
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="the folder to write")
    p.add_argument(
        "--ensemble", type=int, metavar="N",
        help="average N models of the best configuration, each with its own seed "
        "(default: 5 up to 20,000 training rows, else 1)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    storage, name = storage_for_study(args)
    study, spec = load_study(storage, name)
    if spec.own_code:
        raise UsageError(
            f"export applies to the built-in trainer only; study {name} runs your own code (train:), "
            "which saves its own models"
        )
    result = export_best(study, spec, Path(args.output), args.ensemble)
    if args.json:
        console.print_json(json.dumps({**asdict(result), "folder": str(result.folder)}))
        return 0
    console.print(
        f"exported trial {result.trial} ({result.epochs} epochs{_members(result.ensemble)}) to {result.folder}: "
        f"test {result.metric} {fmt_value(result.test_score)} (cross-validated {fmt_value(result.cv_score)})"
    )
    return 0


def _members(n: int) -> str:
    return f", an ensemble of {n} models" if n > 1 else ""
