"""Smaller models of the built-in families: structured pruning and a short fine-tune.

``automl export --prune F`` removes the fraction F of the hidden units of an MLP (a row of one
Linear layer, the matching column of the next one, and their batch-norm entries) and of the
channels of every conv block of a CNN (a kernel of the block, the matching input channel of the
next conv or the matching columns of the dense head) and of the units of the CNN's dense head.
The tensors really shrink: a pruned model has fewer parameters, and :func:`resize` gives a
freshly built model of the same family the same widths, so that ``automl predict`` rebuilds it
from the widths ``model.json`` records.

A unit's importance is the norm of the weights that make it (``|gamma|`` when batch norm
rescales it) times the norm of the weights that read it; each layer loses the same fraction,
its least important units, judged on the trained weights before anything is cut. The pruned
model then trains again for a few epochs (:func:`fine_tune_epochs`) on the training rows with
the trial's optimiser settings, from half its learning rate down to zero along a cosine: on
digits that recovers more than a constant tenth of it does in the same epochs (about 1.7
points of test accuracy lost at ``--prune 0.5`` for a CNN instead of 2.8, 4 seeds).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from automl.studyfile import StudySpec
from automl.studyfile.trainer_params import TrainParams
from automl.training.engine import row_losses
from automl.training.folds import Fold
from automl.training.models import CNN, MLP, Ensemble
from automl.training.optim import l1_penalty, make_optimizer, split_decay

FINE_TUNE_LR = 0.5  # the fine-tune's first learning rate, as a fraction of the trial's


def fine_tune_epochs(epochs: int) -> int:
    """Epochs of training after pruning, for a model trained ``epochs`` epochs: a fifth, at least
    2."""
    return max(2, epochs // 5)


@dataclass(frozen=True)
class PrunableLayer:
    """One layer of prunable units: the layer that makes them, its norm, the layer that reads
    them."""

    producer: nn.Linear | nn.Conv2d
    norm: nn.BatchNorm1d | nn.BatchNorm2d | None
    consumer: nn.Linear | nn.Conv2d
    span: int  # the consumer's inputs per unit: 1, or the pixels a CNN flattens per channel


def prunable(model: nn.Module) -> bool:
    """True for a built-in MLP or CNN (or an ensemble of them); a ``python:`` model is not."""
    return all(isinstance(m, (MLP, CNN)) for m in members_of(model))


def members_of(model: nn.Module) -> list[nn.Module]:
    """The models an ensemble averages, or the model itself."""
    return list(model.members) if isinstance(model, Ensemble) else [model]


def prunable_layers(net: nn.Module) -> list[PrunableLayer]:
    """The prunable layers of an MLP (hidden layers) or a CNN (conv blocks, then the head)."""
    if isinstance(net, MLP):
        made = [(_layer(b.linear), _norm(b.norm)) for b in net.layers]
        readers = [layer for layer, _ in made[1:]] + [_layer(net.out)]
        return [
            PrunableLayer(layer, norm, r, 1) for (layer, norm), r in zip(made, readers, strict=True)
        ]
    if isinstance(net, CNN):
        made = [(_layer(b.conv), _norm(b.norm)) for b in net.blocks]
        hidden = _layer(net.hidden)
        readers = [layer for layer, _ in made[1:]] + [hidden]
        out = [
            PrunableLayer(layer, norm, r, 1) for (layer, norm), r in zip(made, readers, strict=True)
        ]
        last = out[-1]
        out[-1] = dataclasses.replace(last, span=hidden.weight.shape[1] // _units(last.producer))
        return [*out, PrunableLayer(hidden, None, _layer(net.out), 1)]
    raise TypeError(f"only the built-in mlp and cnn can be pruned, not {type(net).__name__}")


def widths(net: nn.Module) -> list[int]:
    """The units of each prunable layer (see :func:`prunable_layers`): what ``model.json``
    records."""
    return [_units(s.producer) for s in prunable_layers(net)]


@torch.no_grad()
def prune(net: nn.Module, fraction: float) -> list[int]:
    """Remove ``fraction`` of the units of every prunable layer of ``net``, in place; the new
    widths."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    layers = prunable_layers(net)
    keeps = []
    for layer in layers:  # every choice from the trained weights, before anything is cut
        score = importance(layer)
        n = max(1, round(len(score) * (1 - fraction)))
        keeps.append(torch.topk(score, n).indices.sort().values)
    for layer, keep in zip(layers, keeps, strict=True):
        _take(layer, keep)
    return widths(net)


@torch.no_grad()
def resize(net: nn.Module, sizes: Sequence[int]) -> None:
    """Give a freshly built ``net`` the widths of a pruned one (its weights are then loaded)."""
    layers = prunable_layers(net)
    if len(sizes) != len(layers) or not all(
        1 <= w <= _units(s.producer) for w, s in zip(sizes, layers, strict=False)
    ):
        raise ValueError(f"widths {list(sizes)} do not fit a model with widths {widths(net)}")
    for layer, w in zip(layers, sizes, strict=True):
        _take(layer, torch.arange(w, device=layer.producer.weight.device))


def importance(layer: PrunableLayer) -> torch.Tensor:
    """Per unit: the norm of the weights that make it (|gamma| after batch norm) times the
    norm of the weights that read it."""
    made = layer.producer.weight.detach()
    n = len(made)
    making = (
        layer.norm.weight.detach().abs()
        if layer.norm is not None
        else made.reshape(n, -1).norm(dim=1)
    )
    reading = layer.consumer.weight.detach().transpose(0, 1).reshape(n, -1).norm(dim=1)
    return (making * reading).float()


def _units(layer: nn.Linear | nn.Conv2d) -> int:
    return layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels


def _layer(module: object) -> nn.Linear | nn.Conv2d:
    assert isinstance(module, (nn.Linear, nn.Conv2d)), f"not a Linear or Conv2d layer: {module!r}"
    return module


def _norm(module: object) -> nn.BatchNorm1d | nn.BatchNorm2d | None:
    return (
        module if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and module.affine else None
    )


def _take(layer: PrunableLayer, keep: torch.Tensor) -> None:
    """Keep only the units ``keep`` (sorted indices) of ``layer``: rows, norm entries, columns."""
    producer, consumer = layer.producer, layer.consumer
    producer.weight = _kept(producer.weight, keep, 0)
    if producer.bias is not None:
        producer.bias = _kept(producer.bias, keep, 0)
    if isinstance(producer, nn.Linear):
        producer.out_features = len(keep)
    else:
        producer.out_channels = len(keep)
    if layer.norm is not None:
        norm = layer.norm
        norm.num_features = len(keep)
        norm.weight, norm.bias = _kept(norm.weight, keep, 0), _kept(norm.bias, keep, 0)
        if norm.running_mean is not None and norm.running_var is not None:
            norm.running_mean = norm.running_mean.index_select(0, keep).clone()
            norm.running_var = norm.running_var.index_select(0, keep).clone()
    columns = (
        keep
        if layer.span == 1
        else (keep[:, None] * layer.span + torch.arange(layer.span, device=keep.device)).flatten()
    )
    consumer.weight = _kept(consumer.weight, columns, 1)
    if isinstance(consumer, nn.Linear):
        consumer.in_features = len(columns)
    else:
        consumer.in_channels = len(columns)


def _kept(param: torch.Tensor, index: torch.Tensor, dim: int) -> nn.Parameter:
    return nn.Parameter(
        param.detach().index_select(dim, index).clone(), requires_grad=param.requires_grad
    )


def prune_and_fine_tune(
    model: nn.Module,
    fraction: float,
    spec: StudySpec,
    params: Mapping[str, Any],
    fold: Fold,
    epochs: int,
) -> list[int]:
    """Prune every member of ``model`` in place and fine-tune each on ``fold``'s training rows
    (:func:`fine_tune_epochs` of ``epochs``); the model ends on the CPU in eval mode. The widths."""
    sizes: list[int] = []
    for i, member in enumerate(members_of(model)):
        sizes = prune(member, fraction)
        fine_tune(
            member, spec, params, fold, fine_tune_epochs(epochs), seed=spec.trainer.seed * 1000 + i
        )
    model.cpu().eval()
    return sizes


def fine_tune(
    net: nn.Module,
    spec: StudySpec,
    params: Mapping[str, Any],
    fold: Fold,
    epochs: int,
    *,
    seed: int = 0,
) -> list[float]:
    """Train ``net`` for ``epochs`` epochs on ``fold``'s training rows, in fp32 on the fold's
    device, with the trial's optimiser and regularisation, the learning rate falling from
    ``FINE_TUNE_LR`` times the trial's to zero along a cosine. The mean training loss per epoch."""
    p = TrainParams.from_mapping(params, batch_size=spec.trainer.batch_size)
    p = dataclasses.replace(p, lr=p.lr * FINE_TUNE_LR)
    task = spec.primary.builtin.task
    device = fold.X_train.device
    net.to(device).train()
    decay, no_decay = split_decay(list(net.named_parameters()))
    optimizer = make_optimizer(decay, no_decay, p)
    steps = max(1, -(-fold.n_train // p.batch_size))
    total_steps = max(1, epochs * steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
    )
    shuffle = torch.Generator().manual_seed(seed)
    losses = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout
        for _ in range(epochs):
            perm = torch.randperm(fold.n_train, generator=shuffle).to(device)
            total = torch.zeros((), device=device)
            for j in range(steps):
                rows = perm[j::steps]
                out = net(fold.X_train.index_select(0, rows))
                loss = row_losses(
                    out, fold.y_train.index_select(0, rows), task, p.label_smoothing
                ).mean()
                penalty = l1_penalty(decay, p.l1)
                optimizer.zero_grad(set_to_none=True)
                (loss if penalty is None else loss + penalty).backward()
                if p.grad_clip > 0:
                    nn.utils.clip_grad_norm_(net.parameters(), p.grad_clip)
                optimizer.step()
                schedule.step()
                total += loss.detach()
            losses.append(float(total) / steps)
    net.eval()
    return losses
