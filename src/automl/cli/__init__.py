"""The command line: one module per command; the only place that turns errors into exit codes."""

from __future__ import annotations

import argparse
import logging
import sys

from rich.console import Console
from rich.logging import RichHandler

from automl import __version__
from automl.cli import dashboard, export, predict, report, run, status, validate, worker
from automl.errors import AutoMLError
from automl.search.storage import quiet_optuna

COMMANDS = (run, validate, status, report, export, predict, dashboard, worker)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="automl",
        description="Hyperparameter search and AutoML for PyTorch models.",
        epilog="Exit codes: 0 done, 1 runtime failure, 2 bad input or usage, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"automl {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def _configure_logging(console: Console, verbose: bool) -> None:
    if console.is_terminal:
        handler: logging.Handler = RichHandler(console=console, show_path=False, show_time=False)
        level = logging.INFO if verbose else logging.WARNING
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, handlers=[handler], force=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console()
    err = Console(stderr=True)
    _configure_logging(err, args.verbose)
    quiet_optuna()
    try:
        return int(args.handler(args, console))
    except AutoMLError as exc:
        err.print(f"[red]error:[/red] {exc.one_line()}", highlight=False, markup=True, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130


def entry() -> None:  # pragma: no cover - the console script
    sys.exit(main())
