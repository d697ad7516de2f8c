"""Passwords out of URLs and text, before anything is printed, logged or stored.

A leaf: it imports nothing from automl, so the CLI, the Celery app, tracking and the report can
mask a URL without importing a storage.
"""

from __future__ import annotations

import re

# Query-string keys whose values are secrets: drivers accept a password there too
# (postgresql://u@db/x?password=..., redis://h/1?password=...).
_SECRET_KEYS = r"(?:password|passwd|pwd|sslpassword|secret|token|api_key|apikey|access_key|secret_key)"
_QUERY_SECRET = re.compile(rf"([?&;]{_SECRET_KEYS}=)[^&;#\s]*", re.IGNORECASE)
# scheme://userinfo@ : the userinfo runs to the last "@" before the path (a password may hold
# "@" itself), and everything after its first ":" is the password.
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)([^/\s]*)@", re.IGNORECASE)


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***``: in the userinfo (all of it after the
    user name, whatever it holds) and in the query string.

    >>> mask_url("redis://:s3cret@host:6379/0")
    'redis://:***@host:6379/0'
    >>> mask_url("postgresql://u:p@ss@db/x?sslmode=require&password=hunter2")
    'postgresql://u:***@db/x?sslmode=require&password=***'
    """
    return mask_credentials(url)


def unencoded_at(url: str) -> bool:
    """Does the URL's password hold a bare ``@``? Drivers end the userinfo at the first ``@``
    and read the rest of the password as the host, which their errors then print (a piece of
    the password, past any masking). Written as ``%40`` it reaches the driver whole.

    >>> unencoded_at("postgresql://u:p@ss@db/x"), unencoded_at("postgresql://u:p%40ss@db/x")
    (True, False)
    """
    userinfo = _USERINFO.match(url.strip())
    return bool(userinfo and "@" in userinfo.group(2))


UNENCODED_AT = "the password holds a bare '@', which drivers take for the end of the password; write it as %40"


def mask_text(text: str, *urls: str) -> str:
    """Remove the passwords of ``urls`` from ``text`` wherever they stand (driver messages
    sometimes echo them bare), and the password of any URL written in it."""
    for url in urls:
        for secret in _secrets_of(url):
            text = text.replace(secret, "***")
    return mask_credentials(text)


def _secrets_of(url: str) -> list[str]:
    found = [m.group(0).split("=", 1)[1] for m in _QUERY_SECRET.finditer(url)]
    userinfo = _USERINFO.search(url)
    if userinfo and ":" in userinfo.group(2):
        found.append(userinfo.group(2).split(":", 1)[1])
    return [s for s in found if s and s != "***"]


def _mask_userinfo(match: re.Match[str]) -> str:
    scheme, userinfo = match.group(1), match.group(2)
    if ":" not in userinfo:
        return match.group(0)  # a user name alone
    return f"{scheme}{userinfo.split(':', 1)[0]}:***@"


def mask_credentials(text: str) -> str:
    """Mask the password of every URL in free text.

    >>> mask_credentials("cannot reach redis://:pw@host:6379/0 now")
    'cannot reach redis://:***@host:6379/0 now'
    """
    return _QUERY_SECRET.sub(r"\1***", _USERINFO.sub(_mask_userinfo, text))
