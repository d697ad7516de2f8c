"""The fast path: the k fold MLPs as one model with stacked weights, trained with batched matmuls.

Fold f's layer l is ``weight[l][f]``; a forward pass is one ``torch.baddbmm`` per layer over all
folds at once. The optimisers (sgd, adam, adamw, rmsprop) and weight decay act elementwise, so
one optimiser over the stacked tensors is exactly k independent optimisers; the loss is the
sum of the per-fold mean losses, so each fold's gradient is its own. Gradient clipping is done
per fold by hand. Folds differ in size by a row or so: batches are padded and the padding rows
are masked out of the loss. Only MLPs without batch norm qualify (:func:`.models.stackable`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from automl.studyfile.trainer_params import TrainParams
from automl.training.engine import EVAL_CHUNK, Setup, epoch_permutations, fold_models, row_losses
from automl.training.folds import Fold, batch_plan, fold_generators
from automl.training.health import EpochHealth, Layout, Meter
from automl.training.models import ACTIVATIONS
from automl.training.optim import l1_penalty, make_optimizer, make_scheduler


class StackedMLP(nn.Module):
    """k MLPs of the same shape; input (k, rows, features) -> output (k, rows, n_out)."""

    def __init__(self, models: list[nn.Module], p: TrainParams) -> None:
        super().__init__()
        # modules() walks in definition order: layers.0.linear, layers.1.linear, ..., out.
        linears = [[m for m in model.modules() if isinstance(m, nn.Linear)] for model in models]
        n_layers = len(linears[0])
        # Stored (k, in, out): baddbmm then needs no transpose, and its weight gradient comes
        # out contiguous, which saves a copy per tensor per step. Norms are the same.
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([ls[i].weight.detach().t() for ls in linears]).contiguous())
            for i in range(n_layers)
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([ls[i].bias.detach() for ls in linears])[:, None, :].clone())
            for i in range(n_layers)
        )
        self.act = ACTIVATIONS[p.activation]()
        self.dropout = p.dropout
        self.names = [f"layers.{i}.linear" for i in range(n_layers - 1)] + ["out"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(2)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=False)):
            x = torch.baddbmm(b, x, w)  # (k, rows, in) @ (k, in, out) + bias
            if i < last:
                x = self.act(x)
                if self.dropout > 0:
                    x = F.dropout(x, self.dropout, self.training)
        return x

    @torch.no_grad()
    def unstack(self, models: list[nn.Module]) -> list[nn.Module]:
        """Copy fold f's weights into ``models[f]`` (MLPs of the shape this was built from)."""
        for f, model in enumerate(models):
            linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
            for linear, w, b in zip(linears, self.weights, self.biases, strict=True):
                linear.weight.copy_(w[f].t())
                linear.bias.copy_(b[f, 0])
        return models

    def layout(self) -> Layout:
        return Layout.from_groups(
            [(n, [w, b]) for n, w, b in zip(self.names, self.weights, self.biases, strict=False)]
        )


def _pad_stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    """(k, max rows, ...) with zero rows appended to the shorter folds."""
    rows = max(len(t) for t in tensors)
    out = tensors[0].new_zeros((len(tensors), rows, *tensors[0].shape[1:]))
    for f, t in enumerate(tensors):
        out[f, : len(t)] = t
    return out


class StackedEngine:
    """All folds' MLPs as one :class:`StackedMLP`; same batches and seeds as ``LoopEngine``."""

    path = "stacked"

    def __init__(self, setup: Setup, folds: list[Fold]) -> None:
        self.setup, self.folds = setup, folds
        self.device = setup.placement.device
        k = len(folds)
        self.model = StackedMLP(fold_models(setup, k), setup.p).to(self.device)
        self.sizes = [f.n_train for f in folds]
        self.steps, self.batch = batch_plan(self.sizes, setup.p.batch_size)
        self.n_max = max(self.sizes)
        X = _pad_stack([f.X_train.flatten(1) for f in folds])
        self.X_flat = X.reshape(k * self.n_max, -1)  # row f * n_max + i is fold f's row i
        self.y_flat = _pad_stack([f.y_train for f in folds]).reshape(k * self.n_max)
        self.X_val = _pad_stack([f.X_val.flatten(1) for f in folds])
        self.weights = list(self.model.weights)
        self.optimizer = make_optimizer(self.weights, list(self.model.biases), setup.p)
        self.scheduler = make_scheduler(self.optimizer, setup.p, setup.epochs, self.steps)
        self.lay = self.model.layout()
        self.groups = self.lay.groups
        self.generators = fold_generators(setup.seed, k)
        self.meter = Meter(k, len(self.groups), self.device)

    def _epoch_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat row indices (steps, k * batch) and a 0/1 mask (steps, k, batch) for one epoch."""
        k, steps, batch = len(self.folds), self.steps, self.batch
        perms = epoch_permutations(self.generators, self.sizes)
        rows = torch.zeros(k, batch * steps, dtype=torch.long)
        mask = torch.zeros(k, batch * steps)
        for f, perm in enumerate(perms):
            rows[f, : len(perm)] = perm + f * self.n_max
            rows[f, len(perm) :] = f * self.n_max  # padding: any real row, masked out below
            mask[f, : len(perm)] = 1.0
        # Position j + steps * i goes to batch j: batch j of fold f is perm_f[j::steps].
        rows = rows.view(k, batch, steps).permute(2, 0, 1).reshape(steps, k * batch)
        mask = mask.view(k, batch, steps).permute(2, 0, 1).contiguous()
        return rows.to(self.device), mask.to(self.device)

    def train_epoch(self) -> tuple[list[float], EpochHealth]:
        p, placement, k = self.setup.p, self.setup.placement, len(self.folds)
        self.model.train()
        rows, mask = self._epoch_rows()
        counts = mask.sum(2).clamp_min(1.0)  # (steps, k)
        start = [t.detach().clone() for t in self.lay.tensors]
        self.meter.begin(self.lay.sq_norms(start, True))
        losses = torch.zeros(k, device=self.device)
        for j in range(self.steps):
            xb = self.X_flat.index_select(0, rows[j]).view(k, self.batch, -1)
            yb = self.y_flat.index_select(0, rows[j])
            with placement.autocast():
                out = self.model(xb)
            per_row = row_losses(
                out.reshape(k * self.batch, -1), yb, self.setup.task, p.label_smoothing
            )
            per_fold = (per_row.view(k, self.batch) * mask[j]).sum(1) / counts[j]
            penalty = l1_penalty(self.weights, p.l1)
            total = per_fold.sum() if penalty is None else per_fold.sum() + penalty
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            grads = [
                t.grad if t.grad is not None else torch.zeros_like(t) for t in self.lay.tensors
            ]
            grad_sq = self.lay.sq_norms(grads, True)  # (k, G)
            self.meter.add(grad_sq)
            if p.grad_clip > 0:  # per fold, like clip_grad_norm_ on each fold's model
                coef = (p.grad_clip / (grad_sq.sum(1).sqrt() + 1e-6)).clamp(max=1.0)
                for g in grads:
                    g.mul_(coef.view(k, *([1] * (g.ndim - 1))))
            self.optimizer.step()
            self.scheduler.step()
            losses += per_fold.detach()
        current = self.lay.tensors
        health = self.meter.end(
            self.lay.sq_norms(current, True),
            self.lay.sq_norms([t.detach() - s for t, s in zip(current, start, strict=False)], True),
        )
        return (losses / self.steps).tolist(), health

    @torch.inference_mode()
    def predict_val(self) -> list[np.ndarray]:
        self.model.eval()
        chunks = []
        for i in range(0, self.X_val.shape[1], EVAL_CHUNK):
            with self.setup.placement.autocast():
                chunks.append(self.model(self.X_val[:, i : i + EVAL_CHUNK]).float())
        out = torch.cat(chunks, dim=1).cpu().numpy()
        return [out[f, : len(fold.X_val)] for f, fold in enumerate(self.folds)]

    def fold_modules(self) -> list[nn.Module]:
        return self.model.unstack(fold_models(self.setup, len(self.folds)))

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generators": [g.get_state() for g in self.generators],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        for g, saved in zip(self.generators, state["generators"], strict=True):
            g.set_state(saved)
