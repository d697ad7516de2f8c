"""A trial's parameter values as one typed object, with the defaults the built-in trainer uses.

The worker hands :func:`automl.training.run_trial` a plain mapping (sampled plus fixed values);
any name may be missing. :class:`TrainParams` fills the gaps and checks the categorical values,
so the rest of the engine never looks a name up in a dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from automl.errors import SpecError
from automl.spec.model import TRAINER_CHOICES


@dataclass(frozen=True)
class TrainParams:
    """Every knob of the built-in trainer; see PRODUCT.md for what each one means."""

    lr: float = 1e-3
    weight_decay: float = 0.0
    l1: float = 0.0
    dropout: float = 0.0
    depth: int = 2
    width: int = 128
    activation: str = "relu"
    batch_norm: bool = False
    init: str = "default"
    optimizer: str = "adamw"
    momentum: float | None = None  # sgd: 0.9 when left out; rmsprop: 0 when left out
    nesterov: bool = False
    beta1: float = 0.9
    beta2: float = 0.999
    schedule: str = "constant"
    warmup_epochs: int = 0
    batch_size: int = 128
    grad_clip: float = 0.0  # 0 means no clipping
    label_smoothing: float = 0.0
    channels: int = 32
    kernel_size: int = 3

    @classmethod
    def from_mapping(
        cls, params: Mapping[str, Any], *, batch_size: int, model_params: bool = True
    ) -> TrainParams:
        """Build from a trial's params; names the trainer does not know are ignored here.

        With ``model_params=False`` (a user builder owns the model) only the optimisation
        params are read: ``activation: swish`` is then the builder's business, not ours.

        >>> TrainParams.from_mapping({"lr": 0.01, "optimizer": "sgd"}, batch_size=64).batch_size
        64
        """
        values: dict[str, Any] = {"batch_size": batch_size}
        for name, kind in _KINDS.items():
            if not model_params and name in MODEL_PARAMS:
                continue
            if name in params and params[name] is not None:
                values[name] = _coerce(name, params[name], kind)
        for name, allowed in TRAINER_CHOICES.items():  # the vocabulary the study file is checked against
            if name in values and values[name] not in allowed:
                raise SpecError(
                    f"space.{name}", f"{values[name]!r} is not one of {', '.join(allowed)}"
                )
        for name in ("lr", "batch_size", "depth", "width", "channels", "kernel_size"):
            if name in values and values[name] <= 0:
                raise SpecError(f"space.{name}", f"must be > 0, but got {values[name]}")
        if not 0.0 <= values.get("dropout", 0.0) < 1.0:
            raise SpecError("space.dropout", f"must be in [0, 1), but got {values['dropout']}")
        return cls(**values)


_KINDS: dict[str, type] = {
    "lr": float, "weight_decay": float, "l1": float, "dropout": float, "depth": int,
    "width": int, "activation": str, "batch_norm": bool, "init": str, "optimizer": str,
    "momentum": float, "nesterov": bool, "beta1": float, "beta2": float, "schedule": str,
    "warmup_epochs": int, "batch_size": int, "grad_clip": float, "label_smoothing": float,
    "channels": int, "kernel_size": int,
}  # fmt: skip

# What the built-in families read; a user builder gets them raw instead.
MODEL_PARAMS = frozenset(
    {"depth", "width", "activation", "dropout", "batch_norm", "init", "channels", "kernel_size"}
)



def _coerce(name: str, value: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
            return value.lower() in ("true", "yes")
        return bool(value)
    if kind is str:
        return str(value).lower()
    try:
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        raise SpecError(
            f"space.{name}", f"must be {'an int' if kind is int else 'a number'}, but got {value!r}"
        ) from None
