"""Passwords out of URLs and text, before anything is printed, logged or stored.

A leaf: it imports nothing from automl, so the CLI, the Celery app, tracking and the report can
mask a URL without importing a storage.

**Where a URL's password ends.** ``@``, ``/``, ``?`` and ``#`` end parts of a URL, so a password
holding one of them unencoded is cut short by a driver, which then reads the rest as a host,
port, database or query and prints it in its errors (``failed to resolve host 'ss@host'``).
:func:`unencoded_separator` finds such passwords so that automl can refuse them before any
connection; :func:`mask_credentials` and :func:`mask_text` read URLs the same way, so the whole
password is masked however it is written. The rule, for the text after ``scheme://`` (each URL
of a ``;``-separated list, as in Redis Sentinel and failover brokers, on its own):

1. No authority, no password: the text starts with ``/`` (``sqlite:////tmp/a@b/x.db``,
   ``unix:///run/redis.sock``), or there is no ``scheme://`` at all (a journal file's path).
2. The *authority* as a URL parser sees it runs to the first ``/``, ``?`` or ``#``. When it is
   well formed (``[user[:password]@]host[:port][,host[:port]...]``: numeric ports; a host name,
   an IPv4 address or a bracketed IPv6 one, empty only after an ``@``):

   - a query string starts at the first ``?name=`` after it, and its ``@`` are its own
     (``?options=-c%20x@y``, ``?user=a@b``);
   - with no ``@`` in it, a path of one segment is the path whatever it holds
     (``postgresql://h:5432/my@db``).

   When it is not (``u:pa`` from ``postgresql://u:pa/ss@h/db``: ``pa`` is no port), the query
   string starts at the first ``?name=`` after the first ``@`` that a host list follows.
3. The userinfo ends at the *last* ``@`` before the query string that a host list follows (up
   to the end or a character that cannot go on a host: ``/``, ``?``, ``#``, a quote, ...). The
   password is what follows the userinfo's first ``:``; the URL is refused when it holds ``@``,
   ``/``, ``?`` or ``#`` (or the user name holds ``@``).

So ``postgresql://u:p@ss@h/db``, ``redis://:a/b@h:6379/0``, ``postgresql://u:pa?ss@h/db`` and
``postgresql://u:p#w@h/db`` are refused, and a URL without credentials, with ``@`` in its query
string or in a one-segment path, with IPv6 hosts, or several hosts, is not. What the rule cannot
tell apart, it reads as the well-formed URL, and masks as such: a password starting with
digits then ``/`` in a URL without a database (``u:1234/x@h``: host ``u``, port 1234, database
``x@h``), and a password holding ``?name=`` after a well-formed start (``u:p@ss?x=1@h``: password
``p``, host ``ss``). These are neither refused nor masked past the first reading. The
other way round, a database name holding ``@`` in a URL with credentials (``u:pw@h/my@db``) is
read as part of the password and refused: written ``my%40db`` it passes, and drivers decode it.

**Fragments.** A driver that cuts a password short prints its pieces, not the whole, so
:func:`mask_text` masks the whole password (any length, as written and percent-decoded) and
every piece of it between ``@ / ? # :`` of at least :data:`MIN_FRAGMENT` characters. Shorter
pieces are left: they reveal little of a password, and masking them would eat ordinary words
of a driver's message (``ss`` in ``address``, ``db``, ``com``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import unquote

# Query-string keys whose values are secrets: drivers accept a password there too
# (postgresql://u@db/x?password=..., redis://h/1?password=...).
_SECRET_KEYS = (
    r"(?:password|passwd|pwd|sslpassword|secret|token|api_key|apikey|access_key|secret_key)"
)
_QUERY_SECRET = re.compile(rf"([?&;]{_SECRET_KEYS}=)[^&;#\s]*", re.IGNORECASE)

_SCHEME = re.compile(r"(?<![\w+.-])[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_NEXT_URL = re.compile(r";(?=[a-z][a-z0-9+.-]*://)", re.IGNORECASE)  # redis://h1;redis://h2
_HOST = r"(?:\[[0-9a-z:.%_~-]*\]|[a-z0-9._~%-]+)"  # a bracketed IPv6 address, or a name / IPv4
_PORT = r"(?::[0-9]+)?"
_AFTER_AT = re.compile(
    rf"(?:{_HOST}?{_PORT})(?:,{_HOST}?{_PORT})*(?![a-z0-9._~%:\[\],@-])", re.IGNORECASE
)
_CLEAN_AUTHORITY = re.compile(
    rf"[^@]*@{_HOST}?{_PORT}(?:,{_HOST}?{_PORT})*|{_HOST}{_PORT}(?:,{_HOST}{_PORT})*", re.IGNORECASE
)
_QUERY_START = re.compile(r"\?[a-z_][a-z0-9_.-]*=", re.IGNORECASE)

SEPARATORS = "@/?#"
PERCENT_ENCODED = {"@": "%40", "/": "%2F", "?": "%3F", "#": "%23"}
MIN_FRAGMENT = 4  # pieces of a password shorter than this are not masked on their own


def _userinfo_end(rest: str) -> int:
    """Where in ``rest`` (a URL after its ``scheme://``) the ``@`` that ends the userinfo
    stands, by the module's rule; -1 when the URL has no userinfo."""
    if not rest or rest[0] == "/":
        return -1  # no authority
    auth_end = next((i for i, c in enumerate(rest) if c in "/?#"), len(rest))
    clean = _CLEAN_AUTHORITY.fullmatch(rest[:auth_end])
    ats = [i for i, c in enumerate(rest) if c == "@" and _AFTER_AT.match(rest, i + 1)]
    if not ats:
        return -1
    query = _QUERY_START.search(rest, auth_end if clean else ats[0])
    head = rest[: query.start()] if query else rest
    path = head[auth_end:]
    if clean and "@" not in rest[:auth_end] and path.startswith("/") and "/" not in path[1:]:
        return -1  # host[:port]/one-segment: its '@' is the database name's
    return max((i for i in ats if i < len(head)), default=-1)


def _password_spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) in ``text`` of the password of every URL written in it."""
    starts = list(_SCHEME.finditer(text))
    for n, scheme in enumerate(starts):
        limit = starts[n + 1].start() if n + 1 < len(starts) else len(text)
        space = re.search(r"\s", text[scheme.end() : limit])
        rest = (
            text[scheme.end() : scheme.end() + space.start()]
            if space
            else text[scheme.end() : limit]
        )
        rest = _NEXT_URL.split(rest, maxsplit=1)[0]
        end = _userinfo_end(rest)
        colon = rest.find(":", 0, max(end, 0))
        if end >= 0 and colon >= 0:
            yield scheme.end() + colon + 1, scheme.end() + end


def unencoded_separator(url: str) -> str | None:
    """The first of ``@ / ? #`` that the URL's password holds unencoded (``@`` also for a user
    name holding one), or None. See the module's docstring for how the password is found.

    >>> [unencoded_separator(u) for u in ("postgresql://u:p@ss@db/x", "redis://:a/b@h:6379/0",
    ...                                   "postgresql://u:p%40ss@db/x", "sqlite:////tmp/a@b/x.db")]
    ['@', '/', None, None]
    """
    for piece in _NEXT_URL.split(url.strip()):
        scheme = _SCHEME.match(piece)
        if not scheme:
            continue
        rest = piece[scheme.end() :]
        end = _userinfo_end(rest)
        if end < 0:
            continue
        user, _, password = rest[:end].partition(":")
        held = [c for c in password if c in SEPARATORS]
        if held or "@" in user:
            return held[0] if held else "@"
    return None


def percent_encode_hint(char: str) -> str:
    """The one-line advice for a password holding ``char`` (one of ``@ / ? #``) unencoded."""
    return (
        f"the password holds an unencoded {char!r}, where a driver would end it and read "
        "the rest as a host, "
        f"port or database (and print it in its errors); percent-encode it: {char!r} as "
        f"{PERCENT_ENCODED[char]} "
        "('@' %40, '/' %2F, '?' %3F, '#' %23)"
    )


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***``: in the userinfo (all of it after the
    user name, whatever it holds) and in the query string.

    >>> mask_url("redis://:s3cret@host:6379/0")
    'redis://:***@host:6379/0'
    >>> mask_url("postgresql://u:p@ss@db/x?sslmode=require&password=hunter2")
    'postgresql://u:***@db/x?sslmode=require&password=***'
    >>> mask_url("postgresql://u:pa/ss?w@db/x")
    'postgresql://u:***@db/x'
    """
    return mask_credentials(url)


def mask_text(text: str, *urls: str) -> str:
    """Remove the passwords of ``urls`` from ``text`` wherever they stand (driver messages
    sometimes echo them bare, or the pieces of one they cut short: see the module's
    docstring), and the password of any URL written in it.

    >>> mask_text("could not translate host name 'ssword' to address", "postgresql://u:pa@ssword@db/x")
    "could not translate host name '***' to address"
    """
    for secret in _secrets_of(*urls):
        text = text.replace(secret, "***")
    return mask_credentials(text)


def _secrets_of(*urls: str) -> list[str]:
    """Every password of ``urls`` (userinfo and query), as written and percent-decoded, and
    their pieces of :data:`MIN_FRAGMENT` characters or more; longest first."""
    found = [m.group(0).split("=", 1)[1] for url in urls for m in _QUERY_SECRET.finditer(url)]
    found += [url[start:end] for url in urls for start, end in _password_spans(url)]
    secrets: set[str] = set()
    for whole in found:
        for form in {whole, unquote(whole)}:
            secrets.add(form)
            secrets.update(
                piece for piece in re.split(r"[@/?#:]", form) if len(piece) >= MIN_FRAGMENT
            )
    return sorted((s for s in secrets if s and s != "***"), key=len, reverse=True)


def mask_credentials(text: str) -> str:
    """Mask the password of every URL in free text.

    >>> mask_credentials("cannot reach redis://:pw@host:6379/0 now")
    'cannot reach redis://:***@host:6379/0 now'
    """
    parts, done = [], 0
    for start, end in _password_spans(text):
        parts += [text[done:start], "***"]
        done = end
    return _QUERY_SECRET.sub(r"\1***", "".join(parts) + text[done:])
