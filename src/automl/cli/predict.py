"""`automl predict DIR DATA`: predictions from an exported model; the metric when DATA has
labels."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from automl.artifacts.predict import predict_file, write_predictions
from automl.errors import UsageError
from automl.report.format import fmt_value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", metavar="DIR", help="a folder written by `automl export`")
    p.add_argument(
        "data", metavar="DATA", help="a .csv (same columns as training) or .npz (X, optional y)"
    )
    p.add_argument(
        "-o",
        "--output",
        default="predictions.csv",
        metavar="FILE",
        help="where to write (default predictions.csv)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument(
        "--trust-code",
        action="store_true",
        help="import the python: model builder the export names (it runs that code)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    out = Path(args.output)
    if not out.parent.exists():
        raise UsageError(f"--output: folder {str(out.parent)!r} does not exist")
    result = predict_file(Path(args.folder), Path(args.data), trust_code=args.trust_code)
    write_predictions(result, out)
    summary = {
        "rows": len(result.predictions),
        "output": str(out),
        "metric": result.metric,
        "score": result.score,
    }
    if args.json:
        console.print_json(json.dumps(summary))
    elif result.score is None:
        console.print(f"wrote {len(result.predictions)} predictions to {out}")
    else:
        console.print(
            f"wrote {len(result.predictions)} predictions to {out}; {result.metric} "
            f"{fmt_value(result.score)}"
        )
    return 0
