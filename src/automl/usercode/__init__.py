"""Your own training code: a Python function (``train: python:pkg.mod:fn``) or any program
(``train: {command: [...]}``), run by the workers in place of the built-in trainer.

:class:`TrialContext` is the public API a function gets; :mod:`.program` speaks a line
protocol with a program. Both report to the same pruner, save to the same checkpoint store,
and end in the same outcomes as the built-in trainer (see :mod:`automl.runner.execute`).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automl.usercode.context import TrialContext

__all__ = ["TrialContext"]


def __getattr__(name: str) -> Any:
    if name == "TrialContext":  # imports torch: only in a process that runs a trial
        from automl.usercode.context import TrialContext

        return TrialContext
    raise AttributeError(f"module 'automl.usercode' has no attribute {name!r}")
