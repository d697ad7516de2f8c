"""Every error automl raises on purpose, and the exit code each one means.

The tree::

    AutoMLError                  exit 1 unless a subclass says otherwise
    +-- UserInputError           exit 2: something the user wrote or typed is wrong
    |   +-- SpecError            the study file (carries the YAML path of the bad field)
    |   +-- DataError            the data the study file points at
    |   +-- UsageError           command-line flags that do not fit together
    +-- StorageError             the Optuna storage cannot be reached or used
    +-- StudyFailedError         the study stopped early (too many failed trials)
    +-- StudyInterrupted        Ctrl-C: running trials were failed as "interrupted" (exit 130)
    +-- TrialPruned              raised inside a trial: stop it and mark it pruned, with a reason

Only ``automl.cli`` turns these into exit codes. This module imports nothing from automl,
so that every layer (training included) may raise these without pulling in the others.
"""

from __future__ import annotations


class AutoMLError(Exception):
    """Root of every error automl raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and the hint, on one line, the way the CLI prints it."""
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UserInputError(AutoMLError):
    """Something the user wrote or typed is wrong; fixing it is up to them."""

    exit_code = 2


class SpecError(UserInputError):
    """A study file field is wrong. ``path`` is the dotted YAML path, e.g. ``space.lr.low``."""

    def __init__(self, path: str, message: str, *, hint: str | None = None) -> None:
        if not path.isprintable():  # a key with a line break in it must not break the one line
            path = path.encode("unicode_escape").decode("ascii")
        self.path = path
        super().__init__(f"{path}: {message}" if path else message, hint=hint)


class DataError(UserInputError):
    """The data named by the study file cannot be loaded or does not fit the task."""


class UsageError(UserInputError):
    """Command-line arguments that do not fit together."""


class StorageError(AutoMLError):
    """The Optuna storage cannot be reached or used."""


class StudyFailedError(AutoMLError):
    """The study was stopped before its budget, for example by ``max_failed_trials``."""


class StudyInterrupted(AutoMLError):
    """The user pressed Ctrl-C. Running trials were marked failed with reason "interrupted"."""

    exit_code = 130


class TrialPruned(AutoMLError):
    """Stop the current trial and record it as pruned.

    ``reason`` says why ("pruned by the pruner", "diverged: loss is nan", ...) and ``epoch``
    is the epoch in which the trial stopped (for divergence, the epoch that diverged, which is
    never reported). A reason that means divergence starts with "diverged".
    """

    def __init__(self, reason: str, epoch: int, details: dict[str, object] | None = None) -> None:
        super().__init__(f"pruned at epoch {epoch}: {reason}")
        self.reason = reason
        self.epoch = epoch
        # JSON-safe facts about the trial so far (curves, health), stored on the pruned trial.
        self.details = details or {}


def as_pruned(exc: BaseException, epoch: int) -> TrialPruned | None:
    """``exc`` as automl's :class:`TrialPruned` when it means "stop this trial, it is pruned",
    else None. User code written for Optuna raises Optuna's ``TrialPruned``: it becomes ours,
    with its message as the reason, at ``epoch``. Optuna's is recognised by its class, so this
    module imports no Optuna.

    >>> as_pruned(ValueError("x"), 3) is None
    True
    """
    if isinstance(exc, TrialPruned):
        return exc
    if any(
        cls.__name__ == "TrialPruned" and cls.__module__.startswith("optuna.")
        for cls in type(exc).__mro__
    ):
        return TrialPruned(str(exc) or "pruned by the pruner", epoch)
    return None


# The fail_reason of a trial whose worker was told to stop (SIGTERM, Ctrl-C): it runs again
# from its checkpoint, and the run does not count it against trial_retries.
PREEMPTED = "preempted"


class TrialPreempted(AutoMLError):
    """The worker was asked to stop (SIGTERM, Ctrl-C): the trial saved a checkpoint at
    ``epoch`` (0: none could be saved) and is recorded failed with reason "preempted"; it runs
    again from that checkpoint, without counting against ``trial_retries``."""

    def __init__(self, epoch: int) -> None:
        super().__init__(f"preempted after epoch {epoch}")
        self.epoch = epoch
