"""`automl report`: one self-contained HTML page about a study."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from automl.cli.common import add_study_flags, storage_for_study
from automl.errors import UsageError
from automl.report.html import render_report
from automl.search import load_study


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_study_flags(p)
    p.add_argument(
        "-o",
        "--output",
        default="report.html",
        metavar="FILE",
        help="where to write it (default: report.html)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only the path written")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    storage, name = storage_for_study(args)
    study, spec = load_study(storage, name, retry_s=args.settings.storage_retry_s)
    out = Path(args.output)
    if not out.parent.exists():
        raise UsageError(f"--output: folder {str(out.parent)!r} does not exist")
    out.write_text(render_report(study, spec), encoding="utf-8")
    if args.quiet:
        console.print(str(out), highlight=False)
    else:
        console.print(
            f"wrote {out} ({out.stat().st_size // 1024} kB, {len(study.trials)} trials); "
            "open it in a browser"
        )
    return 0
