"""Small formatting helpers shared by the terminal views."""

from __future__ import annotations

from typing import Any


def fmt_value(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.4g}"


def fmt_params(params: dict[str, Any], limit: int = 8) -> str:
    items = []
    for key, value in list(params.items())[:limit]:
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        items.append(f"{key}={shown}")
    if len(params) > limit:
        items.append("...")
    return ", ".join(items)
