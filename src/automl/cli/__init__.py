"""The command line: one module per command; the only place that turns errors into exit codes."""

from __future__ import annotations

import argparse
import logging
import sys

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from automl import __version__
from automl.cli import dashboard, export, predict, report, run, status, validate, worker
from automl.cli.common import read_settings
from automl.errors import AutoMLError
from automl.masking import mask_credentials
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
        args.settings = read_settings()  # the environment's AUTOML_*_S, read here once and passed down
        return int(args.handler(args, console))
    except AutoMLError as exc:
        _print_error(err, mask_credentials(exc.one_line()))
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen fault: one line, not a traceback
        logging.getLogger("automl").debug("unexpected error", exc_info=True)
        text = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
        hint = "" if args.verbose else " (run with -v to see the traceback)"
        _print_error(err, mask_credentials(f"unexpected {text}{hint}"))
        return 1


def _print_error(console: Console, line: str) -> None:
    line = " ".join(line.split())  # one line, whatever the message held
    console.print(f"[red]error:[/red] {escape(line)}", highlight=False, soft_wrap=True)


def entry() -> None:  # pragma: no cover - the console script
    sys.exit(main())
