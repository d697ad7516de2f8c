"""automl: hyperparameter search and AutoML for PyTorch models.

For your own training code (``train: python:pkg.mod:fn`` in a study file)::

    import automl

    def fit(params: dict, trial: automl.TrialContext) -> float: ...

``automl.TrialPruned`` is what ``trial.report`` raises when the pruner stops the trial.
"""

from typing import TYPE_CHECKING, Any

from automl.errors import TrialPruned

__version__ = "0.1.0"
__all__ = ["TrialContext", "TrialPruned", "__version__"]

if TYPE_CHECKING:
    from automl.usercode.context import TrialContext


def __getattr__(name: str) -> Any:
    if name == "TrialContext":  # imports torch: only when asked for
        from automl.usercode.context import TrialContext

        return TrialContext
    raise AttributeError(f"module 'automl' has no attribute {name!r}")
