"""Durations in the study file and on the command line: ``90``, ``90s``, ``30m``, ``2h``,
``1h30m``."""

from __future__ import annotations

import re
from typing import Any

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)")
_UNIT_S = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(value: Any) -> Any:
    """Return seconds as a float; a bare number means seconds. ``None`` passes through.

    >>> parse_duration("1h30m")
    5400.0
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return float(text)
        if text and _PART.sub("", text).strip() == "":
            return sum(float(n) * _UNIT_S[u] for n, u in _PART.findall(text))
    raise ValueError(f"{value!r} is not a duration; write e.g. 90s, 30m, 2h or 1h30m")


def format_duration(seconds: float) -> str:
    """``3725`` -> ``1h02m05s``; for progress lines."""
    s = max(0, int(round(seconds)))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h{m:02d}m{s:02d}s"
    if m:
        return f"{m}m{s:02d}s"
    return f"{s}s"
