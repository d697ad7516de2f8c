"""One trial: k-fold cross-validation in lockstep, reported to the pruner epoch by epoch.

The flow of :func:`cross_validate`, in order: resolve params, device and data; fit one preprocessor
per training fold; build the k fold models (one stacked model when the architecture allows);
then per epoch train every fold, stop at once on divergence, score every fold, report the
fold mean, obey the pruner, and stop early when the mean has not improved for ``patience``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from automl import trial_attrs as attrs
from automl.errors import TrialPruned
from automl.studyfile import Direction, StudySpec
from automl.studyfile.trainer_params import TrainParams
from automl.training.checkpoint import Checkpoints
from automl.training.cost import model_costs
from automl.training.data import DataCache, Dataset, load_dataset
from automl.training.device import resolve, seed_everything
from automl.training.engine import Engine, LoopEngine, Setup
from automl.training.folds import Fold, prepare_folds
from automl.training.health import EXPLODING_GRAD_NORM, EpochHealth, HealthLog, round_sig
from automl.training.metrics import score
from automl.training.models import stackable
from automl.training.reporter import Reporter
from automl.training.stacked import StackedEngine


@dataclass
class TrialResult:
    """What a finished trial found. ``value`` is the fold-mean metric at ``best_epoch``
    (1-based)."""

    value: float
    best_epoch: int
    epochs_run: int
    fold_scores: list[float]  # per fold, at best_epoch
    curve: list[float]  # fold mean per epoch
    fold_curves: list[list[float]]  # [fold][epoch]
    health: dict[str, Any]  # see HealthLog.summary
    warnings: list[str] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # fold-mean training loss per epoch
    path: str = "loop"  # "stacked" (batched fold models) or "loop"
    device: str = "cpu"
    precision: str = "fp32"
    duration_s: float = 0.0
    # Every objective (and model cost a constraint names) by name, at best_epoch.
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def final(self) -> float | dict[str, float]:
        """What the study's objectives are told: every metric by name, or the value alone."""
        return dict(self.metrics) if self.metrics else self.value

    def user_attrs(self) -> dict[str, Any]:
        """JSON-safe, compact facts to store on the Optuna trial (a few kB for 100 epochs)."""
        return {
            attrs.FOLD_SCORES: [_r(v) for v in self.fold_scores],
            attrs.BEST_EPOCH: self.best_epoch,
            attrs.EPOCHS_RUN: self.epochs_run,
            attrs.CURVE: [_r(v) for v in self.curve],
            attrs.FOLD_CURVES: [[_r(v) for v in c] for c in self.fold_curves],
            attrs.TRAIN_LOSS: [_r(v) for v in self.train_loss],
            attrs.HEALTH: self.health,
            attrs.WARNINGS: list(self.warnings),
            attrs.TRAIN_PATH: self.path,
            attrs.DEVICE: self.device,
            attrs.PRECISION: self.precision,
            attrs.DURATION_S: round(self.duration_s, 2),
            **(
                {attrs.METRICS: {k: _exact(v) for k, v in self.metrics.items()}}
                if self.metrics
                else {}
            ),
        }


def cross_validate(
    spec: StudySpec,
    params: Mapping[str, Any],
    reporter: Reporter,
    *,
    cache: DataCache | None = None,
    checkpoints: Checkpoints | None = None,
) -> TrialResult:
    """Cross-validate one configuration; raise :class:`TrialPruned` when pruned or diverged.

    With ``checkpoints``, the trial continues from a saved state of the same params (its
    epochs so far are reported again first, so the pruner sees the whole curve), saves as
    often as they say, and stops with :class:`TrialPreempted` when preemption is requested.

    >>> from automl.studyfile import parse_spec
    >>> spec = parse_spec('''
    ... name: iris
    ... objective: {metric: accuracy}
    ... data: {source: "sklearn:iris", cv: {folds: 3}}
    ... trainer: {epochs: 3, device: cpu}
    ... ''')
    >>> from automl.training import NullReporter
    >>> result = cross_validate(spec, {"lr": 0.01}, NullReporter())
    >>> result.epochs_run, len(result.fold_scores)
    (3, 3)
    """
    started = time.perf_counter()
    task = spec.primary.builtin.task
    dataset = (
        cache.get(spec.dataset, task) if cache is not None else load_dataset(spec.dataset, task)
    )
    p = TrainParams.from_mapping(
        params, batch_size=spec.trainer.batch_size, model_params=not spec.model.is_user_builder
    )
    placement = resolve(spec.trainer.device, spec.trainer.precision)
    with torch.random.fork_rng(devices=[]):  # seed the trial without disturbing the caller
        seed_everything(spec.trainer.seed, placement.device)
        if cache is not None:
            folds = cache.folds(
                spec.dataset,
                task,
                placement.device,
                lambda d: prepare_folds(d, spec.dataset, placement.device),
            )
        else:
            folds = prepare_folds(dataset, spec.dataset, placement.device)
        setup = Setup(spec, p, params, placement, task, dataset.input_shape, dataset.n_outputs,
                      spec.trainer.epochs)  # fmt: skip
        fast = stackable(spec.model, p) and not placement.needs_scaler
        engine: Engine = StackedEngine(setup, folds) if fast else LoopEngine(setup, folds)
        costs = model_costs(
            spec.cost_metrics, spec.model, p, params, dataset.input_shape, dataset.n_outputs
        )
        result = _cross_validate(spec, engine, folds, dataset, reporter, setup, started,
                                 checkpoints or Checkpoints(None), costs)  # fmt: skip
    return result


def _cross_validate(
    spec: StudySpec,
    engine: Engine,
    folds: list[Fold],
    dataset: Dataset,
    reporter: Reporter,
    setup: Setup,
    started: float,
    checkpoints: Checkpoints,
    costs: dict[str, float],
) -> TrialResult:
    metric = spec.primary.builtin
    # The other objectives scored on predictions (a study may have several), and what to track:
    # every objective and every model cost a constraint names (costs do not change with epochs).
    extra = [o.builtin for o in spec.objectives if not o.is_cost and o.builtin != metric]
    tracked = bool(extra or costs or spec.multi)
    vectors: list[dict[str, float]] = []
    maximize = spec.direction == Direction.MAXIMIZE
    stopping = spec.trainer.early_stopping
    log = HealthLog(engine.groups)
    fold_curves: list[list[float]] = [[] for _ in folds]
    curve: list[float] = []
    train_loss: list[float] = []
    placement = setup.placement

    def result() -> TrialResult:
        best = _best_index(curve, maximize) if curve else 0
        return TrialResult(
            value=curve[best] if curve else math.nan, best_epoch=best + 1 if curve else 0,
            epochs_run=len(curve),
            fold_scores=[c[best] for c in fold_curves] if curve else [],
            curve=list(curve), fold_curves=[list(c) for c in fold_curves], health=log.summary(),
            warnings=log.vanishing(), train_loss=list(train_loss), path=engine.path,
            device=str(placement.device), precision=placement.precision.value,
            duration_s=time.perf_counter() - started,
            metrics=dict(vectors[best]) if tracked and curve else {},
        )  # fmt: skip

    def pruned(reason: str, epoch: int) -> TrialPruned:
        details = result().user_attrs()
        if tracked and vectors:  # a pruned trial keeps its last vector
            details[attrs.METRICS] = {k: _exact(v) for k, v in vectors[-1].items()}
        return TrialPruned(reason, epoch, details=details)

    def report(epoch: int) -> None:
        reporter.report(epoch, dict(vectors[epoch - 1]) if spec.multi else curve[epoch - 1])

    reference, stale = None, 0  # the last significant best, and epochs since
    first = 1
    identity = {"params": dict(setup.params), "path": engine.path, "study": _training_digest(spec)}
    saved = checkpoints.load(identity)
    if saved is not None:
        engine.load_state_dict(saved["engine"])
        curve.extend(saved["curve"])
        train_loss.extend(saved["train_loss"])
        for f, c in enumerate(saved["fold_curves"]):
            fold_curves[f].extend(c)
        log.epochs.extend(EpochHealth(**h) for h in saved["health"])
        reference, stale = saved["reference"], saved["stale"]
        vectors.extend(saved.get("vectors") or [{metric.value: v, **costs} for v in saved["curve"]])
        torch.set_rng_state(saved["rng"])
        if placement.device.type == "cuda" and saved["cuda_rng"]:
            torch.cuda.set_rng_state_all(saved["cuda_rng"])
        for e in range(1, len(curve) + 1):  # the new trial carries the curve so far
            report(e)
        first = int(saved["epoch"]) + 1

    def snapshot() -> dict[str, Any]:
        return {
            "identity": identity, "epoch": len(curve),
            "curve": list(curve), "fold_curves": [list(c) for c in fold_curves],
            "train_loss": list(train_loss), "health": [asdict(h) for h in log.epochs],
            "reference": reference, "stale": stale, "engine": engine.state_dict(),
            "vectors": [dict(v) for v in vectors],
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if placement.device.type == "cuda" else [],
        }  # fmt: skip

    for epoch in range(first, spec.trainer.epochs + 1):
        losses, health = engine.train_epoch()
        log.add(health)
        train_loss.append(float(np.mean(losses)))
        problem = _divergence(losses, health)
        outputs = engine.predict_val()
        if problem is None and not all(np.isfinite(o).all() for o in outputs):
            problem = "validation outputs are not finite"
        if problem is not None:
            raise pruned(f"diverged: {problem} (epoch {epoch})", epoch)
        scores = [
            score(metric, out, fold.y_val, dataset.n_classes, fold.preprocessor)
            for out, fold in zip(outputs, folds, strict=False)
        ]
        for f, s in enumerate(scores):
            fold_curves[f].append(s)
        curve.append(float(np.mean(scores)))
        if tracked:
            vector = {metric.value: curve[-1], **costs}
            for other in extra:
                vector[other.value] = float(np.mean([
                    score(other, out, fold.y_val, dataset.n_classes, fold.preprocessor)
                    for out, fold in zip(outputs, folds, strict=False)
                ]))  # fmt: skip
            vectors.append(vector)
        report(epoch)
        # Not after the last epoch: the trial has trained in full, and pruning it then would
        # throw away what it cost (Optuna's Hyperband puts a rung on it when epochs are 9, 27,
        # 81: steps counted from 1 reach its max_resource).
        if epoch < spec.trainer.epochs and reporter.should_prune():
            raise pruned("pruned by the pruner", epoch)
        if stopping is not None:
            gain = (curve[-1] - reference) if reference is not None else math.inf
            if (gain if maximize else -gain) > stopping.min_delta or reference is None:
                reference, stale = curve[-1], 0
            else:
                stale += 1
                if stale >= stopping.patience:
                    break
        checkpoints.after_epoch(epoch, spec.trainer.epochs, snapshot)
    return result()


def _training_digest(spec: StudySpec) -> str:
    """What a checkpoint must agree with besides the params: the data, model and trainer
    sections (how often to checkpoint aside), so an edited study file never resumes old state."""
    trainer = spec.trainer.model_dump(mode="json", exclude={"checkpoint_every"})
    parts = [spec.dataset.model_dump(mode="json"), spec.model.model_dump(mode="json"), trainer]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _best_index(curve: list[float], maximize: bool) -> int:
    values = np.nan_to_num(np.asarray(curve), nan=-np.inf if maximize else np.inf)
    return int(np.argmax(values) if maximize else np.argmin(values))


def _divergence(losses: list[float], health: EpochHealth) -> str | None:
    for f, loss in enumerate(losses, start=1):
        if not math.isfinite(loss):
            return f"training loss is {loss} in fold {f}"
    for f, norm in enumerate(health.max_grad_norm, start=1):
        if norm > EXPLODING_GRAD_NORM:
            return f"exploding gradients, norm {norm:.3g} > {EXPLODING_GRAD_NORM:.0e} in fold {f}"
    return None


def _exact(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _r(x: float) -> float | None:
    return round_sig(x, 5) if math.isfinite(x) else None
