"""The built-in model families (``mlp``, ``cnn``) and the user builder (``python:mod:func``).

Layer names are stable (``layers.0.linear``, ``out``) because gradient-health records are keyed
by them, and the batched fast path (:mod:`.stacked`) copies weights from these modules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch import nn

from automl.errors import SpecError, as_pruned
from automl.studyfile import ModelSpec
from automl.studyfile.trainer_params import TrainParams
from automl.training.sources import load_callable

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU, "elu": nn.ELU,
}  # fmt: skip


class DenseBlock(nn.Module):
    """Linear -> [BatchNorm] -> activation -> [Dropout]."""

    def __init__(self, n_in: int, n_out: int, p: TrainParams) -> None:
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        self.norm = nn.BatchNorm1d(n_out) if p.batch_norm else nn.Identity()
        self.act = ACTIVATIONS[p.activation]()
        self.drop = nn.Dropout(p.dropout) if p.dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.act(self.norm(self.linear(x))))


class MLP(nn.Module):
    """``depth`` dense blocks of ``width`` units, then a linear output; flattens its input."""

    def __init__(self, n_in: int, n_out: int, p: TrainParams) -> None:
        super().__init__()
        widths = [n_in] + [p.width] * p.depth
        self.layers = nn.ModuleList(
            DenseBlock(a, b, p) for a, b in zip(widths, widths[1:], strict=False)
        )
        self.out = nn.Linear(widths[-1], n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.layers:
            x = layer(x)
        return self.out(x)  # type: ignore[no-any-return]


class ConvBlock(nn.Module):
    """Conv -> [BatchNorm] -> activation -> [MaxPool 2x2 while the image is big enough] ->
    [Dropout]."""

    def __init__(self, c_in: int, c_out: int, pool: bool, p: TrainParams) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, p.kernel_size, padding="same")
        self.norm = nn.BatchNorm2d(c_out) if p.batch_norm else nn.Identity()
        self.act = ACTIVATIONS[p.activation]()
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()
        self.drop = nn.Dropout2d(p.dropout) if p.dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.pool(self.act(self.norm(self.conv(x)))))


class CNN(nn.Module):
    """``depth`` conv blocks (``channels``, doubling each block), then a small dense head."""

    def __init__(self, input_shape: tuple[int, ...], n_out: int, p: TrainParams) -> None:
        super().__init__()
        c, h, w = input_shape
        blocks = []
        for i in range(p.depth):
            pool = h >= 2 and w >= 2
            blocks.append(ConvBlock(c, p.channels * 2**i, pool, p))
            c, h, w = p.channels * 2**i, (h // 2 if pool else h), (w // 2 if pool else w)
        self.blocks = nn.Sequential(*blocks)
        # Cap the head's input on big images; small ones (digits: 2x2 after two blocks) pass.
        self.squeeze = nn.AdaptiveAvgPool2d((min(h, 4), min(w, 4)))
        self.hidden = nn.Linear(c * min(h, 4) * min(w, 4), p.width)
        self.act = ACTIVATIONS[p.activation]()
        self.drop = nn.Dropout(p.dropout) if p.dropout > 0 else nn.Identity()
        self.out = nn.Linear(p.width, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze(self.blocks(x)).flatten(1)
        return self.out(self.drop(self.act(self.hidden(x))))  # type: ignore[no-any-return]


class Ensemble(nn.Module):
    """Several models of one configuration whose predictions are averaged.

    Classification: the output is the log of the members' mean class probabilities, so that a
    softmax of it (what every caller applies to logits) gives exactly that mean. Regression:
    the mean of the members' outputs. Averaging independently seeded models cuts the variance
    that one training run carries, which matters most on small data.
    """

    def __init__(self, members: list[nn.Module], classification: bool) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.classification = classification

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = torch.stack([member(x).float() for member in self.members])
        if self.classification:
            return torch.logsumexp(torch.log_softmax(outs, dim=-1), dim=0) - math.log(len(outs))
        return outs.mean(0)


def build_model(
    model: ModelSpec,
    p: TrainParams,
    params: Mapping[str, Any],
    input_shape: tuple[int, ...],
    n_outputs: int,
) -> nn.Module:
    """A fresh model for one fold, initialised from the current torch RNG state."""
    if model.family == "mlp":
        net: nn.Module = MLP(math.prod(input_shape), n_outputs, p)
    elif model.family == "cnn":
        check_fits(model, input_shape)
        net = CNN(input_shape, n_outputs, p)
    else:
        return build_user_model(model.family, params, input_shape, n_outputs)
    initialise(net, p.init, p.activation)
    return net


def check_fits(model: ModelSpec, input_shape: tuple[int, ...]) -> None:
    """Refuse a model family that cannot take inputs of this shape."""
    if model.family == "cnn" and len(input_shape) != 3:
        raise SpecError(
            "model.family",
            "cnn needs image-shaped data (C x H x W), but the data has shape "
            f"{input_shape}; use mlp",
        )


def build_user_model(
    family: str, params: Mapping[str, Any], input_shape: tuple[int, ...], n_outputs: int
) -> nn.Module:
    """Import only the module the user named and call ``builder(params, input_shape,
    n_outputs)``."""
    _, module_name, func_name = family.split(":")
    try:
        builder = load_callable(module_name, func_name)
    except LookupError as exc:
        raise SpecError("model.family", str(exc)) from None
    try:
        net = builder(dict(params), tuple(input_shape), n_outputs)
    except Exception as exc:  # the user's code: pass its complaint on in one line
        pruned = as_pruned(exc, 0)  # the builder itself said "prune this trial", before any epoch
        if pruned is not None:
            raise pruned from None
        raise SpecError("model.family", f"{family} raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(net, nn.Module):
        raise SpecError(
            "model.family", f"{family} must return a torch.nn.Module, got {type(net).__name__}"
        )
    return net


def initialise(net: nn.Module, init: str, activation: str) -> None:
    """Re-initialise Linear and Conv weights (biases to zero); ``default`` keeps PyTorch's."""
    if init == "default":
        return
    nonlinearity: Literal["leaky_relu", "relu"] = (
        "leaky_relu" if activation == "leaky_relu" else "relu"
    )
    for module in net.modules():
        if not isinstance(module, (nn.Linear, nn.Conv2d)):
            continue
        if init == "kaiming":
            nn.init.kaiming_normal_(module.weight, nonlinearity=nonlinearity)
        elif init == "xavier":
            nn.init.xavier_uniform_(module.weight)
        elif init == "orthogonal":
            nn.init.orthogonal_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def stackable(model: ModelSpec, p: TrainParams) -> bool:
    """True when the k fold models can train as one batched computation (see :mod:`.stacked`)."""
    return model.family == "mlp" and not p.batch_norm
