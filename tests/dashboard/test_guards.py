"""The dashboard's guards, called as WSGI apps: DNS rebinding, the cookie over TLS, the token
kept out of logs and off the terminal."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from io import BytesIO
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

from automl.dashboard.server import _QuietHandler, require_local_host, require_token

TOKEN = "a-long-enough-test-token"


def inner(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"studies"]


def call(
    app: Any, host: str = "127.0.0.1:8080", query: str = "", scheme: str = "http"
) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {
        "PATH_INFO": "/api/studies",
        "QUERY_STRING": query,
        "HTTP_HOST": host,
        "wsgi.input": BytesIO(),
        "wsgi.url_scheme": scheme,
    }
    setup_testing_defaults(environ)
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "localhost"])
def test_on_loopback_requests_that_name_this_machine_pass(host: str) -> None:
    assert call(require_local_host(inner, "127.0.0.1"), host)[0] == "200 OK"


@pytest.mark.parametrize(
    "host", ["evil.example:8080", "evil.example", "127.0.0.1.evil.example", ""]
)
def test_a_page_rebinding_its_name_to_loopback_is_refused(host: str) -> None:
    status, _, body = call(require_local_host(inner, "127.0.0.1"), host)
    assert status.startswith("403") and b"studies" not in body


def test_the_cookie_is_secure_when_the_request_came_over_tls() -> None:
    app = require_token(inner, TOKEN)
    _, plain, _ = call(app, query=f"token={TOKEN}")
    _, tls, _ = call(app, query=f"token={TOKEN}", scheme="https")
    assert "Secure" not in plain["Set-Cookie"] and "Secure" in tls["Set-Cookie"]


def test_the_token_never_reaches_the_request_log(caplog: pytest.LogCaptureFixture) -> None:
    handler = _QuietHandler.__new__(_QuietHandler)
    handler.client_address = ("127.0.0.1", 5555)
    with caplog.at_level(logging.DEBUG, logger="automl.dashboard.server"):
        handler.log_message(
            '"%s" %s %s', f"GET /api/studies?token={TOKEN}&x=1 HTTP/1.1", "200", "-"
        )
    assert TOKEN not in caplog.text and "token=***" in caplog.text


def test_a_token_from_the_environment_is_not_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    import automl.cli.dashboard as cli
    from automl.cli import main

    monkeypatch.setenv("AUTOML_DASHBOARD_TOKEN", TOKEN)
    monkeypatch.setattr(cli, "serve", lambda *a, **k: None)  # everything but the serving itself
    assert main(["dashboard", "--storage", str(tmp_path / "s.journal"), "--host", "0.0.0.0"]) == 0
    out = capsys.readouterr().out
    assert "optuna-dashboard on" in out and TOKEN not in out
