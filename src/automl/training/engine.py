"""One epoch for k fold models in lockstep: the per-fold loop that fits every architecture.

:class:`LoopEngine` keeps one model, optimiser and schedule per fold and runs the folds one
after the other inside each epoch. :mod:`.stacked` does the same for plain MLPs as one batched
computation. Both share the batching plan of :func:`.folds.batch_plan` and the seeds below, so
that a trial gives (nearly) the same result on either path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from automl.studyfile import StudySpec, Task
from automl.studyfile.trainer_params import TrainParams
from automl.training.device import Placement, seed_everything
from automl.training.folds import Fold, batch_plan, fold_generators
from automl.training.health import EpochHealth, Layout, Meter
from automl.training.models import build_model
from automl.training.optim import l1_penalty, make_optimizer, make_scheduler, split_decay

EVAL_CHUNK = 8192  # validation rows per forward pass


@dataclass(frozen=True)
class Setup:
    """Everything an engine needs besides the folds."""

    spec: StudySpec
    p: TrainParams
    params: Mapping[str, Any]  # the raw trial params, for a user builder
    placement: Placement
    task: Task
    input_shape: tuple[int, ...]
    n_outputs: int
    epochs: int  # the schedule's horizon: trainer.epochs, even when a trial stops early

    @property
    def seed(self) -> int:
        return self.spec.trainer.seed


class Engine(Protocol):
    """Trains k fold models one epoch at a time."""

    path: str  # "stacked" or "loop", recorded on the trial
    groups: list[str]  # health layer groups

    def train_epoch(self) -> tuple[list[float], EpochHealth]:
        """One pass over each fold's training rows: (mean training loss per fold, health)."""

    def predict_val(self) -> list[np.ndarray]:
        """Raw outputs (logits or standardised values) on each fold's validation rows."""

    def fold_modules(self) -> list[nn.Module]:
        """Each fold's model as a plain module of its family (what export saves)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything that changes as it trains: weights, optimiser, schedule, shuffling."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` of an engine built with the same setup."""


def row_losses(
    out: torch.Tensor, y: torch.Tensor, task: Task, label_smoothing: float
) -> torch.Tensor:
    """Per-row training loss in fp32: cross-entropy on logits, or squared error."""
    if task == Task.CLASSIFICATION:
        return F.cross_entropy(out.float(), y, label_smoothing=label_smoothing, reduction="none")
    return F.mse_loss(out.float().reshape(len(y), -1)[:, 0], y, reduction="none")


def fold_models(setup: Setup, n_folds: int) -> list[nn.Module]:
    """One freshly initialised model per fold; fold f's weights depend only on (seed, f)."""
    models = []
    for f in range(n_folds):
        with torch.random.fork_rng(devices=[]):
            seed_everything(setup.seed * 1000 + f, setup.placement.device)
            net = build_model(
                setup.spec.model, setup.p, setup.params, setup.input_shape, setup.n_outputs
            )
        models.append(net.to(setup.placement.device))
    return models


def epoch_permutations(generators: list[torch.Generator], sizes: list[int]) -> list[torch.Tensor]:
    return [torch.randperm(n, generator=g) for g, n in zip(generators, sizes, strict=False)]


class LoopEngine:
    """k independent models trained one after another within each epoch (any architecture)."""

    path = "loop"

    def __init__(self, setup: Setup, folds: list[Fold]) -> None:
        self.setup, self.folds = setup, folds
        self.device = setup.placement.device
        self.models = fold_models(setup, len(folds))
        self.steps, _ = batch_plan([f.n_train for f in folds], setup.p.batch_size)
        self.optimizers, self.schedulers, self.scalers, self.layouts = [], [], [], []
        self.l1_weights = []
        for model in self.models:
            decay, no_decay = split_decay(list(model.named_parameters()))
            opt = make_optimizer(decay, no_decay, setup.p)
            self.optimizers.append(opt)
            self.schedulers.append(make_scheduler(opt, setup.p, setup.epochs, self.steps))
            self.scalers.append(setup.placement.grad_scaler())
            self.layouts.append(Layout.of_model(model))
            self.l1_weights.append(decay)
        self.groups = self.layouts[0].groups
        self.generators = fold_generators(setup.seed, len(folds))
        self.meter = Meter(len(folds), len(self.groups), self.device)

    def train_epoch(self) -> tuple[list[float], EpochHealth]:
        p, placement = self.setup.p, self.setup.placement
        perms = epoch_permutations(self.generators, [f.n_train for f in self.folds])
        starts = [[t.detach().clone() for t in lay.tensors] for lay in self.layouts]
        self.meter.begin(
            torch.stack(
                [lay.sq_norms(s, False) for lay, s in zip(self.layouts, starts, strict=False)]
            )
        )
        losses = torch.zeros(len(self.folds), device=self.device)
        for f, fold in enumerate(self.folds):
            model, opt, scaler = self.models[f], self.optimizers[f], self.scalers[f]
            model.train()
            perm = perms[f].to(self.device)
            for j in range(self.steps):
                rows = perm[j :: self.steps]  # see batch_plan: the same batches as the stacked path
                with placement.autocast():
                    out = model(fold.X_train.index_select(0, rows))
                loss = row_losses(out, fold.y_train.index_select(0, rows), self.setup.task,
                                  p.label_smoothing).mean()  # fmt: skip
                penalty = l1_penalty(self.l1_weights[f], p.l1)
                total = loss if penalty is None else loss + penalty
                opt.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(total).backward()
                    scaler.unscale_(opt)  # health and clipping look at true gradients
                else:
                    total.backward()
                grads = [
                    t.grad if t.grad is not None else torch.zeros_like(t)
                    for t in self.layouts[f].tensors
                ]
                self.meter.add(self.layouts[f].sq_norms(grads, False), f, scaled=scaler is not None)
                if p.grad_clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), p.grad_clip)
                if scaler is not None:
                    scaler.step(opt)
                    scaler.update()
                else:
                    opt.step()
                self.schedulers[f].step()
                losses[f] += loss.detach()
        weight_sq, delta_sq = [], []
        for lay, start in zip(self.layouts, starts, strict=False):
            weight_sq.append(lay.sq_norms(lay.tensors, False))
            delta_sq.append(
                lay.sq_norms(
                    [t.detach() - s for t, s in zip(lay.tensors, start, strict=False)], False
                )
            )
        health = self.meter.end(torch.stack(weight_sq), torch.stack(delta_sq))
        return (losses / self.steps).tolist(), health

    @torch.inference_mode()
    def predict_val(self) -> list[np.ndarray]:
        outputs = []
        for model, fold in zip(self.models, self.folds, strict=False):
            model.eval()
            chunks = []
            for i in range(0, len(fold.X_val), EVAL_CHUNK):
                with self.setup.placement.autocast():
                    chunks.append(model(fold.X_val[i : i + EVAL_CHUNK]).float())
            outputs.append(torch.cat(chunks).cpu().numpy())
        return outputs

    def fold_modules(self) -> list[nn.Module]:
        return list(self.models)

    def state_dict(self) -> dict[str, Any]:
        return {
            "models": [m.state_dict() for m in self.models],
            "optimizers": [o.state_dict() for o in self.optimizers],
            "schedulers": [s.state_dict() for s in self.schedulers],
            "scalers": [s.state_dict() if s is not None else None for s in self.scalers],
            "generators": [g.get_state() for g in self.generators],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for f, model in enumerate(self.models):
            model.load_state_dict(state["models"][f])
            self.optimizers[f].load_state_dict(state["optimizers"][f])
            self.schedulers[f].load_state_dict(state["schedulers"][f])
            scaler = self.scalers[f]
            if scaler is not None and state["scalers"][f] is not None:
                scaler.load_state_dict(state["scalers"][f])
            self.generators[f].set_state(state["generators"][f])
