"""Gradient health: per epoch and layer group, gradient norm, weight norm, update-to-weight ratio.

A layer group is a module that owns a weight matrix or kernel (each Linear or Conv layer),
with its bias; big user models are merged into at most :data:`MAX_GROUPS` consecutive groups.
Per step the engine adds each group's gradient norm (no host sync); per epoch it closes the
record: the mean per-step gradient norm, the weight norm at the end of the epoch, and the
update ratio ``|w_end - w_start| / |w_start|`` over the epoch, each averaged over the folds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.linalg import vector_norm

MAX_GROUPS = 16
EXPLODING_GRAD_NORM = 1e6  # a total gradient norm above this (before clipping) is divergence
VANISHING_GRAD_NORM = 1e-7  # absolute floor ...
VANISHING_RELATIVE = 1e-5  # ... or this fraction of the largest group's gradient norm
VANISHING_EPOCHS = 3  # consecutive epochs before a group is flagged


@dataclass(frozen=True)
class Layout:
    """Which tensors make up which layer group, in a fixed order."""

    groups: list[str]
    tensors: list[torch.Tensor]
    group_of: torch.Tensor  # (n_tensors, n_groups) one-hot: which group each tensor is in

    @classmethod
    def of_model(cls, model: nn.Module) -> Layout:
        """Group a model's parameters by the module that owns a weight with two or more dims."""
        owners: list[tuple[str, list[torch.Tensor]]] = []
        for name, module in model.named_modules():
            own = [t for t in module.parameters(recurse=False) if t.requires_grad]
            if any(t.ndim >= 2 for t in own):
                owners.append((name or "model", own))
        if len(owners) > MAX_GROUPS:  # merge neighbours: "a..b" names the first and last
            size = math.ceil(len(owners) / MAX_GROUPS)
            owners = [
                (f"{chunk[0][0]}..{chunk[-1][0]}", [t for _, ts in chunk for t in ts])
                for chunk in (owners[i : i + size] for i in range(0, len(owners), size))
            ]
        return cls.from_groups(owners)

    @classmethod
    def from_groups(cls, owners: Sequence[tuple[str, Sequence[torch.Tensor]]]) -> Layout:
        tensors = [t for _, ts in owners for t in ts]
        index = torch.tensor([g for g, (_, ts) in enumerate(owners) for _ in ts], dtype=torch.long)
        device = tensors[0].device if tensors else torch.device("cpu")
        one_hot = F.one_hot(index, len(owners)).float() if tensors else torch.zeros(0, 0)
        return cls([n for n, _ in owners], tensors, one_hot.to(device))

    def sq_norms(self, values: Sequence[torch.Tensor], stacked: bool) -> torch.Tensor:
        """Squared norm per group: (G,) or, for fold-stacked tensors, (k, G)."""
        if not values:  # a user model without Linear or Conv layers
            return torch.zeros(0, device=self.group_of.device)
        if stacked:  # one norm per fold, over every dim but the first
            per = torch.stack(
                [vector_norm(v.detach().flatten(1).float(), dim=1) for v in values], 1
            )
        else:
            per = torch.stack([vector_norm(v.detach().float()) for v in values])
        return per.square() @ self.group_of


class Meter:
    """Accumulates one epoch of health for k folds; the engine owns one per trial."""

    def __init__(self, n_folds: int, n_groups: int, device: torch.device) -> None:
        self.n_folds, self.n_groups, self.device = n_folds, n_groups, device
        self._zero()

    def _zero(self) -> None:
        shape = (self.n_folds, self.n_groups)
        self.grad_sum = torch.zeros(shape, device=self.device)
        self.max_total = torch.zeros(self.n_folds, device=self.device)
        self.steps = torch.zeros(self.n_folds, device=self.device)
        self.start: torch.Tensor | None = None

    def add(self, grad_sq: torch.Tensor, fold: int | None = None, *, scaled: bool = False) -> None:
        """Add one step's squared group gradient norms: (k, G) for all folds, or (G,) for one.

        With ``scaled`` (fp16 and GradScaler), a non-finite norm is an overflow step that the
        scaler skips, not divergence: it counts as zero. A non-finite loss is caught apart.
        """
        if scaled:
            grad_sq = torch.nan_to_num(grad_sq, nan=0.0, posinf=0.0)
        rows = slice(None) if fold is None else fold
        self.grad_sum[rows] += grad_sq.sqrt()
        self.max_total[rows] = torch.maximum(self.max_total[rows], grad_sq.sum(-1).sqrt())
        self.steps[rows] += 1

    def begin(self, start_sq: torch.Tensor) -> None:
        """Remember the (k, G) squared weight norms at the start of the epoch."""
        self.start = start_sq

    def end(self, weight_sq: torch.Tensor, delta_sq: torch.Tensor) -> EpochHealth:
        """Close the epoch given (k, G) squared weight norms and squared weight changes."""
        weight = weight_sq.sqrt()
        start = (weight_sq if self.start is None else self.start).sqrt().clamp_min(1e-12)
        record = EpochHealth(
            grad_norm=(self.grad_sum / self.steps.clamp_min(1)[:, None]).mean(0).tolist(),
            weight_norm=weight.mean(0).tolist(),
            update_ratio=(delta_sq.sqrt() / start).mean(0).tolist(),
            max_grad_norm=self.max_total.tolist(),
        )
        self._zero()
        return record


@dataclass
class EpochHealth:
    grad_norm: list[float]  # per group, mean over steps and folds
    weight_norm: list[float]
    update_ratio: list[float]
    max_grad_norm: list[float]  # per fold: the largest total gradient norm of any step


@dataclass
class HealthLog:
    """All epochs of a trial; :meth:`summary` is the compact JSON stored on the trial."""

    groups: list[str]
    epochs: list[EpochHealth] = field(default_factory=list)

    def add(self, record: EpochHealth) -> None:
        self.epochs.append(record)

    def summary(self, digits: int = 3) -> dict[str, object]:
        def r(x: float) -> float | None:
            return round_sig(x, digits) if math.isfinite(x) else None  # JSON has no NaN

        return {
            "groups": list(self.groups),
            "grad_norm": [[r(v) for v in e.grad_norm] for e in self.epochs],
            "weight_norm": [[r(v) for v in e.weight_norm] for e in self.epochs],
            "update_ratio": [[r(v) for v in e.update_ratio] for e in self.epochs],
            "max_grad_norm": [r(max(e.max_grad_norm, default=0.0)) for e in self.epochs],
        }

    def vanishing(self) -> list[str]:
        """One warning per group whose gradients vanished for VANISHING_EPOCHS epochs in a row."""
        warnings = []
        for g, name in enumerate(self.groups):
            run = 0
            for epoch, e in enumerate(self.epochs, start=1):
                top = max(e.grad_norm, default=0.0)
                small = e.grad_norm[g] < max(VANISHING_GRAD_NORM, VANISHING_RELATIVE * top)
                run = run + 1 if small else 0
                if run == VANISHING_EPOCHS:
                    warnings.append(
                        f"vanishing gradients in {name}: gradient norm {e.grad_norm[g]:.2g} "
                        f"for {VANISHING_EPOCHS} epochs up to epoch {epoch}"
                    )
                    break
        return warnings


def round_sig(x: float, digits: int = 5) -> float:
    """Round to ``digits`` significant digits; non-finite values pass through as they are."""
    if not math.isfinite(x) or x == 0:
        return float(x)
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))
