"""`automl dashboard`: optuna-dashboard on the study's storage (127.0.0.1 unless told otherwise)."""

from __future__ import annotations

import argparse
import os

from rich.console import Console

from automl.cli.common import add_storage_flag, load_with_overrides
from automl.dashboard.server import check_binding, serve
from automl.errors import UsageError
from automl.masking import mask_url
from automl.search import make_storage

TOKEN_ENV = "AUTOML_DASHBOARD_TOKEN"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "spec",
        metavar="SPEC",
        nargs="?",
        help="a study file (its storage is shown), or give --storage",
    )
    add_storage_flag(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--token", help=f"required beyond 127.0.0.1 (default: ${TOKEN_ENV})")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    token = args.token or os.environ.get(TOKEN_ENV)
    check_binding(args.host, token)  # before touching the storage
    url: str | None
    if args.spec:
        url = load_with_overrides(args.spec, {"storage": args.storage}).storage
    else:
        url = args.storage or os.environ.get("AUTOML_STORAGE")
    if not url:
        raise UsageError("give a study file, or --storage URL (or $AUTOML_STORAGE)")
    storage = make_storage(url, retry_s=args.settings.storage_retry_s)
    # The token came from the user (flag or environment): it is theirs to know, never printed.
    given = " with ?token=... (the token you gave)" if token else ""
    console.print(
        f"optuna-dashboard on {mask_url(url)} at http://{args.host}:{args.port}/{given}  "
        "(Ctrl-C to stop)",
        markup=False,
        highlight=False,
    )
    try:
        serve(storage, args.host, args.port, token)
    except OSError as exc:
        raise UsageError(
            f"--port {args.port}: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    return 0
