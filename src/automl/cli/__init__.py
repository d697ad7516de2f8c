"""The command line: one module per command; the only place that turns errors into exit codes.

A command's module (``automl.cli.<name>``, with its ``add_arguments`` and ``run``) is imported
only when that command runs, so ``automl --help`` and ``automl status`` do not pay for torch,
Celery or the trackers.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import sys
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from automl import __version__
from automl.errors import AutoMLError
from automl.masking import mask_credentials

# Every command, in the order --help lists them, with its one-line help.
COMMANDS: dict[str, str] = {
    "run": "create or resume a study and drive it to its budget",
    "validate": "check a study file and print the resolved search space; writes nothing",
    "status": "counts by state, best trial or Pareto front, running trials with their worker and "
    "age",
    "report": "write one self-contained HTML page: history, curves, importances, trials",
    "export": "retrain a trial (the best by default) on all training data, test it, save it, int8 "
    "or pruned on request",
    "predict": "predictions from an exported model (CSV or NPZ data)",
    "dashboard": "optuna-dashboard on the study's storage, on 127.0.0.1 unless told otherwise",
    "worker": "Celery worker processes: one per GPU slot, or N CPU processes",
}


def build_parser(commands: Iterable[str] = COMMANDS) -> argparse.ArgumentParser:
    """The parser of every command; the arguments only of ``commands`` (their modules are
    imported)."""
    parser = argparse.ArgumentParser(
        prog="automl",
        description="Hyperparameter search and AutoML for PyTorch models.",
        epilog="Exit codes: 0 done, 1 runtime failure, 2 bad input or usage, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"automl {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = set(commands)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name in wanted:
            importlib.import_module(f"automl.cli.{name}").add_arguments(p)
    return parser


def _command_in(argv: Sequence[str]) -> list[str]:
    """The command that ``argv`` names: its first word that is not an option."""
    first = next((a for a in argv if not a.startswith("-")), "")
    return [first] if first in COMMANDS else []


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
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    console = Console()
    err = Console(stderr=True)
    _configure_logging(err, args.verbose)
    try:
        from automl.cli.common import read_settings
        from automl.search.storage import quiet_optuna

        quiet_optuna()
        # the environment's AUTOML_*_S, read here once and passed down
        args.settings = read_settings()
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


def entry() -> None:
    """The console script (and ``python -m automl``): the command, then a quick exit."""
    code = main()
    # Python's exit runs the cyclic collector over every object the command made (Optuna's,
    # SQLAlchemy's, Celery's, pydantic's models): 0.2-0.3 s after an `automl run` (BENCHMARKS.md,
    # "The house"). None of them needs it: files and connections are closed by the command, by
    # reference counting and by the atexit hooks, which still run, and Python still flushes
    # the standard streams. So the collector skips them.
    gc.freeze()
    sys.exit(code)
