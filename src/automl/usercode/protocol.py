"""The line protocol of a program run per trial: what it prints on stdout, one JSON object per
line, ``{"step": 3, "value": 0.91}`` for an intermediate value and ``{"value": 0.93}`` for the
final one (``"values"``: a number per objective). Any other line is the program's own output.
"""

from __future__ import annotations

import json
from typing import Any


def _message(line: str) -> dict[str, Any] | None:
    """A protocol line as {"value": v} or {"step": int, "value": v}, where v is a number or (a
    line with "values") a dict of numbers by objective name; None for any other line (the
    program's own output)."""
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if (
        not isinstance(obj, dict)
        or set(obj) - {"step", "value", "values"}
        or len(set(obj) & {"value", "values"}) != 1
    ):
        return None
    value: Any = obj.get("value", obj.get("values"))
    if "values" in obj:
        if (
            not isinstance(value, dict)
            or not value
            or not all(_is_number(v) for v in value.values())
        ):
            return None
        value = {str(k): float(v) for k, v in value.items()}
    elif not _is_number(value):
        return None
    else:
        value = float(value)
    if "step" in obj:
        step = obj["step"]
        if isinstance(step, bool) or not isinstance(step, int):
            return None
        return {"step": step, "value": value}
    return {"value": value}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
