"""What a tracker is told: one finished trial, or the study's summary, read back from storage.

Both records are built from what the Optuna storage holds (a :class:`FrozenTrial` read back
after ``tell``), never from live training objects, so a tracker shows exactly what the storage
holds. Trackers are a copy for people to look at; the storage stays the record.

Contract of :class:`Tracker`:

- ``log_trial`` is called by a worker process (local or Celery) once per trial, after the trial
  was told to the storage. ``log_study`` is called by ``automl run`` when the run ends.
- Either may raise anything; the caller (:mod:`automl.tracking.registry`) catches it, logs one
  warning per tracker and process, and goes on. A tracker never fails a trial.
- A tracker owns no state across calls that it cannot rebuild: workers may be on other hosts
  and several may log into the same place at once.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.masking import mask_url
from automl.search.outcomes import best_of, front_of
from automl.search.trial_view import TrialView
from automl.studyfile import StudySpec
from automl.studyfile.vocabulary import Direction
from automl.tracking.objectives import objective_epochs_of

# Tags every run carries, so that a run leads back to its trial in the storage.
TAG_STUDY = "automl.study"
TAG_TRIAL = "automl.trial_number"
TAG_STORAGE = "automl.storage"
TAG_ROLE = "automl.role"  # "trial" or "study"

# What a trial's record holds of its TrialView, and which of those a run's summary shows.
RECORD_FIELDS = (
    "number",
    "state",
    "params",
    "value",
    "curve",
    "fold_curves",
    "train_loss",
    "health",
    "host",
    "slot",
    "duration_s",
    "best_epoch",
    "started_at",
    "ended_at",
    "pruned_at_epoch",
    "reason",
    "user_metrics",
)
SUMMARY_FIELDS = ("value", "best_epoch", "pruned_at_epoch", "reason", "host", "slot", "duration_s")


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial as the storage holds it."""

    study_name: str
    storage: str  # masked
    metric: str
    direction: str
    number: int
    state: TrialState
    params: dict[str, Any]
    value: float | None
    curve: list[float | None]  # fold mean per epoch (epoch 1 first)
    fold_curves: list[list[float | None]]  # [fold][epoch]
    train_loss: list[float | None]
    health: dict[str, Any]  # groups, grad_norm, weight_norm, update_ratio ([epoch][group])
    host: str | None
    slot: str | None
    duration_s: float | None
    best_epoch: int | None
    started_at: float | None = None  # seconds since the epoch
    ended_at: float | None = None
    pruned_at_epoch: int | None = None
    reason: str | None = None  # why it was pruned or failed (see search.attrs.note_of)
    user_metrics: dict[str, list[float | None]] = field(default_factory=dict)  # TrialContext.log
    # Several objectives (``value`` is None then): their names in order, each one's final value
    # (complete trials) and its value per epoch (the ``intermediate_values`` attribute).
    objectives: tuple[str, ...] = ()
    values: dict[str, float | None] = field(default_factory=dict)
    objective_epochs: dict[str, dict[int, float | None]] = field(default_factory=dict)

    @property
    def run_name(self) -> str:
        return f"trial-{self.number}"

    @property
    def epochs(self) -> int:
        return len(self.curve)

    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1

    def tags(self) -> dict[str, str]:
        """The tags that tie a run to its trial: study, trial number, storage, state, worker."""
        tags = {
            TAG_STUDY: self.study_name,
            TAG_TRIAL: str(self.number),
            TAG_STORAGE: self.storage,
            TAG_ROLE: "trial",
            "automl.state": self.state.name,
            "automl.host": self.host or "",
            "automl.slot": self.slot or "",
        }
        if self.pruned_at_epoch is not None:
            tags["automl.pruned_at_epoch"] = str(self.pruned_at_epoch)
        if self.reason:
            tags["automl.reason"] = self.reason
        return tags

    def epoch_series(self) -> dict[str, list[float | None]]:
        """Every per-epoch series under one flat name: ``cv/score``, ``cv/fold_1``,
        ``train/loss``, ``health/grad_norm/<group>``, ... (index 0 is epoch 1)."""
        series: dict[str, list[float | None]] = {"cv/score": list(self.curve)}
        for f, curve in enumerate(self.fold_curves, start=1):
            series[f"cv/fold_{f}"] = list(curve)
        if self.train_loss:
            series["train/loss"] = list(self.train_loss)
        groups = [metric_name(g) for g in self.health.get("groups", [])]
        for stat in ("grad_norm", "weight_norm", "update_ratio"):
            per_epoch = self.health.get(stat) or []
            for g, group in enumerate(groups):
                series[f"health/{stat}/{group}"] = [
                    row[g] if g < len(row) else None for row in per_epoch
                ]
        if self.health.get("max_grad_norm"):
            series["health/max_grad_norm"] = list(self.health["max_grad_norm"])
        for name, values in self.user_metrics.items():  # your own code's TrialContext.log
            series[f"user/{metric_name(name)}"] = list(values)
        return series

    def step_series(self) -> dict[str, dict[int, float]]:
        """Every series as the trackers' step -> value (None left out; their step is the epoch):
        those of :meth:`epoch_series`, and with several objectives each one's ``cv/<name>`` at
        the epochs it was reported (``intermediate_values``)."""
        series = {key: {epoch: v for epoch, v in enumerate(values, start=1) if v is not None}
                  for key, values in self.epoch_series().items()}  # fmt: skip
        for name, by_epoch in self.objective_epochs.items():
            series[f"cv/{metric_name(name)}"] = {
                epoch: v for epoch, v in by_epoch.items() if v is not None
            }
        return {key: by_epoch for key, by_epoch in series.items() if by_epoch}

    def steps(self) -> list[int]:
        """The trackers' steps any series has a value at, in order: the epochs reported (1..N
        for one objective)."""
        found = set(range(1, self.epochs + 1))
        for by_epoch in self.objective_epochs.values():
            found |= set(by_epoch)
        return sorted(found)

    def summary(self) -> dict[str, Any]:
        """Scalars that describe the whole trial (for a run's summary or final metrics)."""
        out: dict[str, Any] = {"state": self.state.name, "epochs_run": self.epochs}
        for key in SUMMARY_FIELDS:
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        for name, value in self.values.items():  # several objectives: value/<name>
            if value is not None:
                out[f"value/{metric_name(name)}"] = value
        return out


@dataclass(frozen=True)
class StudyRecord:
    """The study when ``automl run`` ends: its best trial (several objectives: its Pareto
    front, best first on the first objective) and its counts."""

    study_name: str
    storage: str  # masked
    metric: str
    direction: str
    counts: dict[str, int]  # trial state name -> count
    best: TrialRecord | None
    objectives: tuple[str, ...] = ()  # several objectives: their names, in order
    directions: tuple[str, ...] = ()  # and theirs
    front: list[TrialRecord] = field(default_factory=list)

    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1

    def front_numbers(self) -> list[int]:
        return [t.number for t in self.front]


def trial_record(frozen: FrozenTrial, spec: StudySpec, storage_url: str) -> TrialRecord:
    """The record of ``frozen``, a finished trial read back from the storage, through its
    :class:`TrialView` (the fields in :data:`RECORD_FIELDS`)."""
    view = TrialView(frozen, spec.objective_names)
    return TrialRecord(
        study_name=spec.name,
        storage=mask_url(storage_url),
        metric=spec.primary.name,
        direction=spec.direction.value,
        **view.fields(RECORD_FIELDS),
        objectives=tuple(view.names) if view.multi else (),
        values=view.values if view.multi else {},
        objective_epochs=objective_epochs_of(frozen, view.names) if view.multi else {},
    )


def study_record(study: optuna.Study, spec: StudySpec, storage_url: str) -> StudyRecord:
    """The record of an :class:`optuna.Study` as it stands now."""
    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    if spec.multi:
        maximize = [o.maximize for o in spec.objectives]
        members = sorted(
            front_of(trials, maximize),
            key=lambda t: (-t.values[0] if maximize[0] else t.values[0], t.number),
        )
        return StudyRecord(
            spec.name,
            mask_url(storage_url),
            spec.primary.name,
            spec.direction.value,
            counts,
            None,
            objectives=tuple(spec.objective_names),
            directions=tuple(o.direction.value for o in spec.objectives),  # type: ignore[union-attr]
            front=[trial_record(t, spec, storage_url) for t in members],
        )
    frozen = best_of(trials, maximize=spec.direction == Direction.MAXIMIZE)
    best = trial_record(frozen, spec, storage_url) if frozen is not None else None
    return StudyRecord(spec.name, mask_url(storage_url), spec.primary.name,
                       spec.direction.value, counts, best)  # fmt: skip


class Tracker(abc.ABC):
    """One experiment tracker, configured by its section of ``tracking:``."""

    name: str  # the key under ``tracking:``

    @abc.abstractmethod
    def log_trial(self, record: TrialRecord) -> None:
        """Log one finished trial as one run (params, per-epoch series, final state, tags)."""

    @abc.abstractmethod
    def log_study(self, record: StudyRecord) -> None:
        """Log the study's summary: its best trial (or Pareto front) and counts, as a parent
        or summary run."""


_UNSAFE = re.compile(r"[^\w./ -]")


def metric_name(text: str) -> str:
    """A name every tracker accepts as part of a metric key (layer groups may hold anything)."""
    return _UNSAFE.sub("_", text) or "_"
