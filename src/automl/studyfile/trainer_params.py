"""The built-in trainer's parameters: every name, type, default, domain and choice, once.

:class:`TrainParams` is the vocabulary. Each field says what the study file may set under
``space:`` for the built-in trainer; the constants below are derived from it, so the checks of
the study file (:mod:`automl.studyfile.checks`), the engine and the memory estimate can never
disagree about a name. ``tests/studyfile/test_trainer_params.py`` holds the derived views to it.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from automl.errors import SpecError

INF = math.inf


def _knob(
    default: Any,
    *,
    domain: tuple[float, float] | None = None,
    low_ok: bool = True,
    choices: tuple[str, ...] | None = None,
    model: bool = False,
) -> Any:
    """A field with what the study-file checks need: ``domain`` is ``[low, high)`` (``(low,
    high)`` with ``low_ok=False``); ``choices`` the allowed names; ``model`` marks the params the
    built-in model families read (a ``python:`` builder takes those raw instead)."""
    meta = {"domain": domain, "low_ok": low_ok, "choices": choices, "model": model}
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class TrainParams:
    """Every knob of the built-in trainer (README, "The study file", lists what each does)."""

    lr: float = _knob(1e-3, domain=(0.0, INF), low_ok=False)
    weight_decay: float = _knob(0.0, domain=(0.0, INF))
    l1: float = _knob(0.0, domain=(0.0, INF))
    dropout: float = _knob(0.0, domain=(0.0, 1.0), model=True)
    depth: int = _knob(2, domain=(1, INF), model=True)
    width: int = _knob(128, domain=(1, INF), model=True)
    activation: str = _knob(
        "relu", choices=("relu", "gelu", "silu", "tanh", "leaky_relu", "elu"), model=True
    )
    batch_norm: bool = _knob(False, model=True)
    init: str = _knob("default", choices=("default", "kaiming", "xavier", "orthogonal"), model=True)
    optimizer: str = _knob("adamw", choices=("sgd", "adam", "adamw", "rmsprop"))
    momentum: float | None = _knob(None, domain=(0.0, 1.0))  # sgd: 0.9 when left out; rmsprop: 0
    nesterov: bool = _knob(False)
    beta1: float = _knob(0.9, domain=(0.0, 1.0))
    beta2: float = _knob(0.999, domain=(0.0, 1.0))
    schedule: str = _knob(
        "constant", choices=("constant", "step", "exponential", "cosine", "onecycle")
    )
    warmup_epochs: int = _knob(0, domain=(0, INF))
    batch_size: int = _knob(128, domain=(1, INF))
    grad_clip: float = _knob(0.0, domain=(0.0, INF))  # 0 means no clipping
    label_smoothing: float = _knob(0.0, domain=(0.0, 1.0))
    channels: int = _knob(32, domain=(1, INF), model=True)
    kernel_size: int = _knob(3, domain=(1, INF), model=True)

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
        for name, kind in KINDS.items():
            if not model_params and name in MODEL_PARAMS:
                continue
            if name in params and params[name] is not None:
                values[name] = _coerce(name, params[name], kind)
        for name, value in values.items():
            problem = value_problem(name, value)
            if problem:
                raise SpecError(f"space.{name}", problem)
        return cls(**values)


_FIELDS = {f.name: f for f in dataclasses.fields(TrainParams)}


def _kind(annotation: Any) -> type:
    """``float | None`` -> float."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation  # type: ignore[no-any-return]


# The derived views. Names the built-in trainer reads, in field order:
TRAINER_PARAMS: tuple[str, ...] = tuple(_FIELDS)
# The Python type each one is coerced to.
KINDS: dict[str, type] = {n: _kind(t) for n, t in typing.get_type_hints(TrainParams).items()}
# (low, high, low allowed) for the numeric ones; high itself is never allowed.
TRAINER_DOMAINS: dict[str, tuple[float, float, bool]] = {
    n: (*f.metadata["domain"], f.metadata["low_ok"])
    for n, f in _FIELDS.items()
    if f.metadata["domain"]
}
# The names each categorical one accepts.
TRAINER_CHOICES: dict[str, tuple[str, ...]] = {
    n: f.metadata["choices"] for n, f in _FIELDS.items() if f.metadata["choices"]
}
# What the built-in model families read; a python: model builder gets these raw instead.
MODEL_PARAMS: frozenset[str] = frozenset(n for n, f in _FIELDS.items() if f.metadata["model"])


def value_problem(name: str, value: Any) -> str | None:
    """What is wrong with ``value`` for the built-in parameter ``name`` (None: nothing).

    >>> value_problem("dropout", 1.0)
    '1 is outside what dropout can be: [0, 1)'
    >>> value_problem("optimizer", "adamw") is None
    True
    """
    if name in TRAINER_CHOICES:
        if value not in TRAINER_CHOICES[name]:
            return (
                f"{value!r} is not a known {name}; use one of "
                f"{', '.join(sorted(TRAINER_CHOICES[name]))}"
            )
        return None
    if (
        name not in TRAINER_DOMAINS
        or isinstance(value, bool)
        or not isinstance(value, (int, float))
    ):
        return None  # a type error is named when the value is coerced
    low, high, low_ok = TRAINER_DOMAINS[name]
    if (value > low or (low_ok and value == low)) and value < high:
        return None
    top = "inf" if high == INF else f"{high:g}"
    return f"{value:g} is outside what {name} can be: {'[' if low_ok else '('}{low:g}, {top})"


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
