"""Optimisers, learning-rate schedules (stepped per batch) and the L1 penalty.

Weight decay and L1 apply to weight matrices and kernels only, never to biases or norm scales.
Every schedule is a multiplier of ``lr`` over the trial's whole budget (``trainer.epochs``),
after an optional linear warm-up, so a trial that stops early has followed the same curve.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from automl.studyfile.trainer_params import TrainParams


def make_optimizer(
    decay: Sequence[torch.Tensor], no_decay: Sequence[torch.Tensor], p: TrainParams
) -> torch.optim.Optimizer:
    """The optimiser named by ``p.optimizer`` over two groups: with and without weight decay."""
    groups = [
        {"params": list(decay), "weight_decay": p.weight_decay},
        {"params": list(no_decay), "weight_decay": 0.0},
    ]
    if p.weight_decay == 0:  # one group: one fused kernel call per step instead of two
        groups = [{"params": [*decay, *no_decay], "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    # The fused Adam kernels are one call per step instead of a dozen ops per tensor: on the CPU
    # with small models that is most of the optimiser's time. Same update rule.
    fused = all(
        t.device.type in ("cpu", "cuda") and t.is_floating_point() for t in [*decay, *no_decay]
    )
    if p.optimizer == "sgd":
        momentum = 0.9 if p.momentum is None else p.momentum
        return torch.optim.SGD(
            groups, lr=p.lr, momentum=momentum, nesterov=p.nesterov and momentum > 0
        )
    if p.optimizer == "adam":
        return torch.optim.Adam(groups, lr=p.lr, betas=(p.beta1, p.beta2), fused=fused)
    if p.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=p.lr, betas=(p.beta1, p.beta2), fused=fused)
    if p.optimizer == "rmsprop":
        return torch.optim.RMSprop(groups, lr=p.lr, momentum=p.momentum or 0.0)
    raise ValueError(f"unknown optimizer {p.optimizer!r}")  # TrainParams checked it already


def lr_multiplier(p: TrainParams, epochs: int, steps_per_epoch: int) -> Callable[[int], float]:
    """``step -> factor`` for ``torch.optim.lr_scheduler.LambdaLR``.

    >>> f = lr_multiplier(TrainParams(schedule="cosine"), epochs=10, steps_per_epoch=1)
    >>> round(f(0), 3), round(f(5), 3), round(f(9), 3)
    (1.0, 0.5, 0.024)
    """
    total = max(1, epochs * steps_per_epoch)
    warm = min(p.warmup_epochs * steps_per_epoch, total - 1)
    shape = _SHAPES[p.schedule]

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        return shape((step - warm) / max(1, total - warm))

    return factor


def _step(t: float) -> float:
    return 1.0 if t < 0.5 else 0.1 if t < 0.75 else 0.01


def _onecycle(t: float) -> float:
    # Up from lr/25 over the first 30%, then cosine down to lr/1e4 (as OneCycleLR does).
    if t < 0.3:
        return 0.04 + 0.96 * 0.5 * (1 - math.cos(math.pi * t / 0.3))
    return 1e-4 + (1 - 1e-4) * 0.5 * (1 + math.cos(math.pi * (t - 0.3) / 0.7))


_SHAPES: dict[str, Callable[[float], float]] = {
    "constant": lambda t: 1.0,
    "step": _step,
    "exponential": lambda t: 0.01**t,  # down to 1% of lr at the end of the budget
    "cosine": lambda t: 0.5 * (1 + math.cos(math.pi * t)),
    "onecycle": _onecycle,
}


def make_scheduler(
    optimizer: torch.optim.Optimizer, p: TrainParams, epochs: int, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_multiplier(p, epochs, steps_per_epoch))


def l1_penalty(weights: Sequence[torch.Tensor], strength: float) -> torch.Tensor | None:
    """``strength * sum |w|``, or None when L1 is off (so the loss graph stays small)."""
    if strength <= 0 or not weights:
        return None
    return strength * sum(w.abs().sum() for w in weights)  # type: ignore[return-value]


def split_decay(
    named: Sequence[tuple[str, torch.nn.Parameter]],
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(weights that decay, biases and norm parameters that do not)."""
    decay: list[torch.Tensor] = [t for _, t in named if t.requires_grad and t.ndim >= 2]
    no_decay: list[torch.Tensor] = [t for _, t in named if t.requires_grad and t.ndim < 2]
    return decay, no_decay
