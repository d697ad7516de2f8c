"""The names of the user attributes automl stores on every Optuna trial, in one place.

These names are the storage schema: optuna-dashboard shows them, and trials written by older
versions carry them, so a name here never changes. Writers use these constants; readers go
through :mod:`automl.search.attrs`, which treats a value of the wrong type as absent.

This module imports nothing (like :mod:`automl.errors`), so that every layer, the training
package included (which must import neither Optuna nor the search layer), may use it.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

# Lineage: written by the coordinator on the retry it enqueues (coordinator/retries.py).
RETRY_OF: Final = "retry_of"  # int: number of the first trial of the lineage
ATTEMPT: Final = "attempt"  # int: how many times the lineage ran before (absent means 0)

# Worker: written by the worker when it starts the trial (runner/execute.py).
HOST: Final = "host"  # str: host name of the machine that trains the trial
SLOT: Final = "slot"  # str: the worker's slot on that host ("cpu", "cuda:0", "inline", ...)
PID: Final = "pid"  # int: id of the process that trains it (to find or stop it on that host)

# Outcome: written by the worker when the trial ends (fail_reason also by the coordinator when it
# fails a trial whose worker was lost, timed out or interrupted: search/study.py fail_trial).
DURATION_S: Final = "duration_s"  # float: seconds it took (training writes; worker overwrites)
FAIL_REASON: Final = "fail_reason"  # str: one line, why the trial failed (worker or coordinator)
FAIL_KIND: Final = (
    "fail_kind"  # str: a FailKind value, what policy reads (fail_reason is for people)
)
TRACEBACK: Final = "traceback"  # str: last frames of an unexpected error, credentials masked
PRUNE_REASON: Final = "prune_reason"  # str: "pruned by the pruner", "diverged: ...", ...
PRUNED_AT_EPOCH: Final = "pruned_at_epoch"  # int: the epoch in which a pruned trial stopped

# Training facts: TrialResult.user_attrs() (training/crossval.py); a pruned trial carries them too.
FOLD_SCORES: Final = "fold_scores"  # list[float | None]: per fold, the score at the best epoch
BEST_EPOCH: Final = "best_epoch"  # int: 1-based epoch of the best fold mean (0: no epoch ran)
EPOCHS_RUN: Final = "epochs_run"  # int: epochs trained (early stopping may end a trial sooner)
CURVE: Final = "curve"  # list[float | None]: the fold-mean score per epoch (None: not finite)
FOLD_CURVES: Final = "fold_curves"  # list[list[float | None]]: the score per fold, then per epoch
TRAIN_LOSS: Final = "train_loss"  # list[float | None]: the fold-mean training loss per epoch
HEALTH: Final = "health"  # dict: gradient health per epoch and layer group (HealthLog.summary)
WARNINGS: Final = "warnings"  # list[str]: what training noticed, e.g. vanishing gradients
TRAIN_PATH: Final = "train_path"  # str: "stacked" (fold models batched) or "loop"
DEVICE: Final = "device"  # str: the torch device the trial trained on
PRECISION: Final = "precision"  # str: "fp32", "bf16", ...

# Checkpoints (runner/execute.py): where a trial's training stands in its checkpoint store.
CHECKPOINT_EPOCH: Final = "checkpoint_epoch"  # int: epoch of the trial's latest checkpoint
RESUMED_FROM_EPOCH: Final = "resumed_from_epoch"  # int: epoch it resumed after (0: started fresh)

# Your own training code (usercode/): what TrialContext.log(**metrics) recorded, per report.
USER_METRICS: Final = (
    "user_metrics"  # dict[str, list[float | None]]: name -> value per reported step
)

# Several objectives (a study whose objective is a list): Optuna refuses Trial.report there, so
# the worker keeps every objective's value per reported epoch here (runner/vectors.py; keyed as
# Optuna keys its steps), and the final metrics (objectives, and model costs a constraint names)
# of a complete or pruned trial.
INTERMEDIATE_VALUES: Final = "intermediate_values"  # dict[str(epoch), dict[name, float | None]]
METRICS: Final = "metrics"  # dict[name, float | None]: at the end (a pruned trial: its last epoch)

# What TrialResult.user_attrs() writes, and every name automl writes on a trial.
TRAINING_FACTS: Final = frozenset(
    {FOLD_SCORES, BEST_EPOCH, EPOCHS_RUN, CURVE, FOLD_CURVES, TRAIN_LOSS, HEALTH, WARNINGS,
     TRAIN_PATH, DEVICE, PRECISION, DURATION_S}
)  # fmt: skip
ALL: Final = TRAINING_FACTS | frozenset(
    {
        RETRY_OF,
        ATTEMPT,
        HOST,
        SLOT,
        PID,
        FAIL_REASON,
        FAIL_KIND,
        TRACEBACK,
        PRUNE_REASON,
        PRUNED_AT_EPOCH,
        CHECKPOINT_EPOCH,
        RESUMED_FROM_EPOCH,
        USER_METRICS,
        INTERMEDIATE_VALUES,
        METRICS,
    }
)


class FailKind(str, Enum):
    """What kind of failure a FAIL trial had, apart from the words of its ``fail_reason``:
    what retries and counts go by. Trials of versions before it have none; see
    :func:`automl.search.attrs.fail_kind_of`."""

    PREEMPTED = "preempted"  # its worker was told to stop and checkpointed: runs again, not counted
    LOST = "lost"  # its worker vanished (process died, lease expired): retried up to trial_retries
    INTERRUPTED = "interrupted"  # Ctrl-C, or its coordinator died: runs again, not counted
    NOT_STARTED = (
        "not_started"  # withdrawn before any worker started it: neither retried nor counted
    )
    ERROR = "error"  # the trial itself failed (an exception, a score that is not finite)

    def __str__(self) -> str:
        return self.value
