"""Why a trial failed, in one line that carries no credentials (its ``fail_reason``)."""

from __future__ import annotations

from automl.errors import AutoMLError
from automl.masking import mask_text


def failure_reason(exc: BaseException, *secrets_in: str) -> str:
    """One line: what went wrong, with no credentials in it."""
    if _is_out_of_memory(exc):
        return "out of memory"
    text = exc.one_line() if isinstance(exc, AutoMLError) else f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return mask_text(text, *secrets_in)[:500]


def _is_out_of_memory(exc: BaseException) -> bool:
    name = type(exc).__name__
    return (
        name == "OutOfMemoryError"
        or isinstance(exc, MemoryError)
        or "CUDA out of memory" in str(exc)
    )
