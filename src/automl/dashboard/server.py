"""optuna-dashboard on a study's storage, behind a token when it listens beyond this machine.

optuna-dashboard has no authentication, and its API can change studies (notes, deleting
trials). So it binds to 127.0.0.1 unless told otherwise, and binding anywhere else requires a
token: a request must carry ``?token=...`` (the answer then sets a cookie, so links keep
working; Secure when the request came over TLS), a ``Authorization: Bearer ...`` header, or
that cookie. Without a token (on loopback), a request must name this machine in its Host
header: a web page that rebinds its own DNS name to 127.0.0.1 (DNS rebinding) sends its own
name there and is refused. The token never reaches a log.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
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
            f"--host {host}: optuna-dashboard has no login and can change studies, so "
            "binding beyond "
            "127.0.0.1 needs --token (or $AUTOML_DASHBOARD_TOKEN); or use an SSH tunnel "
            "to 127.0.0.1"
        )
    if token is not None and len(token) < 16:
        raise UsageError(
            "--token: use at least 16 characters (e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe())'`)"
        )


_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
_TOKEN_IN_QUERY = re.compile(r"(token=)[^&\s]*")


def require_local_host(app: WSGIApp, bound: str) -> WSGIApp:
    """Wrap a WSGI app so that only requests whose Host header names this machine (a loopback
    name or the bound address) reach it: the defence against DNS rebinding."""
    allowed = _LOOPBACK_NAMES | {bound.lower()}

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST", "").lower()
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
        if name not in allowed:
            start_response("403 Forbidden", [("Content-Type", "text/plain; charset=utf-8")])
            return [
                b"automl dashboard: open it as http://127.0.0.1:PORT/ (this Host is not "
                b"this machine)\n"
            ]
        return app(environ, start_response)

    return guarded


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

        tls = (
            environ.get("wsgi.url_scheme") == "https"
            or environ.get("HTTP_X_FORWARDED_PROTO") == "https"
        )
        cookie_attrs = "HttpOnly; SameSite=Strict; Path=/" + ("; Secure" if tls else "")

        def with_cookie(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            headers = [*headers, ("Set-Cookie", f"{_COOKIE}={token}; {cookie_attrs}")]
            return start_response(status, headers, *rest)

        return app(environ, with_cookie)

    return guarded


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        line = _TOKEN_IN_QUERY.sub(r"\1***", format % args)  # the request line may carry ?token=
        log.debug("%s %s", self.address_string(), line)


def dashboard_app(storage: BaseStorage, token: str | None, host: str = "127.0.0.1") -> WSGIApp:
    from optuna_dashboard import wsgi

    app: WSGIApp = wsgi(storage)
    return require_token(app, token) if token else require_local_host(app, host)


def serve(storage: BaseStorage, host: str, port: int, token: str | None) -> None:
    """Serve until Ctrl-C."""
    check_binding(host, token)
    server = make_server(
        host,
        port,
        dashboard_app(storage, token, host),
        server_class=_ThreadingServer,
        handler_class=_QuietHandler,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
