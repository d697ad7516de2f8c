"""optuna-dashboard on a study's storage, behind a token when it listens beyond this machine.

optuna-dashboard has no authentication, and its API can change studies (notes, deleting
trials). So it binds to 127.0.0.1 unless told otherwise, and binding anywhere else requires a
token: a request must carry ``?token=...`` (the answer then sets a cookie, so links keep
working), a ``Authorization: Bearer ...`` header, or that cookie.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable, Iterable
from http.cookies import SimpleCookie
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from optuna.storages import BaseStorage

from automl.errors import UsageError

log = logging.getLogger(__name__)

_COOKIE = "automl_dashboard_token"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    """Refuse to expose the dashboard beyond this machine without a token."""
    if not is_loopback(host) and not token:
        raise UsageError(
            f"--host {host}: optuna-dashboard has no login and can change studies, so binding beyond "
            "127.0.0.1 needs --token (or $AUTOML_DASHBOARD_TOKEN); or use an SSH tunnel to 127.0.0.1"
        )
    if token is not None and len(token) < 16:
        raise UsageError("--token: use at least 16 characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe())'`)")


def require_token(app: WSGIApp, token: str) -> WSGIApp:
    """Wrap a WSGI app so that only requests carrying ``token`` reach it."""
    expected = token.encode()

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        given = parse_qs(environ.get("QUERY_STRING", "")).get("token", [""])[0]
        from_query = bool(given)
        if not given:
            auth = environ.get("HTTP_AUTHORIZATION", "")
            given = auth[7:] if auth.startswith("Bearer ") else ""
        if not given:
            cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
            given = cookie[_COOKIE].value if _COOKIE in cookie else ""
        if not hmac.compare_digest(given.encode(), expected):
            start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"automl dashboard: add ?token=... to the address\n"]
        if not from_query:
            return app(environ, start_response)

        def with_cookie(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            headers = [*headers, ("Set-Cookie", f"{_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/")]
            return start_response(status, headers, *rest)

        return app(environ, with_cookie)

    return guarded


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug("%s " + format, self.address_string(), *args)


def dashboard_app(storage: BaseStorage, token: str | None) -> WSGIApp:
    from optuna_dashboard import wsgi

    app: WSGIApp = wsgi(storage)
    return require_token(app, token) if token else app


def serve(storage: BaseStorage, host: str, port: int, token: str | None) -> None:
    """Serve until Ctrl-C."""
    check_binding(host, token)
    server = make_server(host, port, dashboard_app(storage, token), server_class=_ThreadingServer, handler_class=_QuietHandler)
    try:
        server.serve_forever()
    finally:
        server.server_close()
