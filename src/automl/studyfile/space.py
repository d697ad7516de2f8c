"""Search-space entries of the study file, and how they become Optuna suggestions.

Each entry under ``space:`` is one of:

* a plain value (``epochs: 20``, ``optimizer: adamw``): the parameter is fixed;
* ``{low, high}`` with optional ``log`` and ``step``: an int when both bounds are ints, a float
  otherwise (``type: int`` or ``type: float`` forces the kind);
* ``{choices: [...]}``: categorical.

Any entry may carry ``when: {other: value}`` (or ``{other: [v1, v2]}``): the parameter exists
only in trials where every named earlier parameter took one of those values. Parameters are
suggested in file order, so ``when`` may only name parameters defined above it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import Enum
from typing import Annotated, Any, Protocol, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

Scalar = Union[bool, int, float, str]


class ParamKind(str, Enum):
    FLOAT = "float"
    INT = "int"
    CATEGORICAL = "categorical"
    FIXED = "fixed"


class BaseParam(BaseModel):
    """What every entry under ``space:`` has: its kind and its ``when:`` condition."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ParamKind

    when: dict[str, Union[Scalar, list[Scalar]]] | None = None

    def condition(self) -> dict[str, tuple[Scalar, ...]]:
        """``when`` with every value turned into a tuple of allowed values."""
        if not self.when:
            return {}
        return {k: tuple(v) if isinstance(v, list) else (v,) for k, v in self.when.items()}


class FloatParam(BaseParam):
    type: ParamKind = ParamKind.FLOAT
    low: float
    high: float
    log: bool = False
    step: float | None = None

    @model_validator(mode="after")
    def _check(self) -> FloatParam:
        _check_range(self.low, self.high, self.log, self.step)
        return self


class IntParam(BaseParam):
    type: ParamKind = ParamKind.INT
    low: int
    high: int
    log: bool = False
    step: int = 1

    @model_validator(mode="after")
    def _check(self) -> IntParam:
        _check_range(self.low, self.high, self.log, self.step)
        return self


class CategoricalParam(BaseParam):
    type: ParamKind = ParamKind.CATEGORICAL
    choices: list[Scalar] = Field(min_length=1)

    @field_validator("choices")
    @classmethod
    def _unique(cls, choices: list[Scalar]) -> list[Scalar]:
        seen: list[Scalar] = []
        for c in choices:
            if any(c == s and type(c) is type(s) for s in seen):
                raise ValueError(f"choice {c!r} is listed twice")
            seen.append(c)
        return choices


class FixedParam(BaseParam):
    type: ParamKind = ParamKind.FIXED
    value: Scalar


def _check_range(low: float, high: float, log: bool, step: float | None) -> None:
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"low and high must be finite numbers, but got low={low}, high={high}")
    if low >= high:
        raise ValueError(f"low must be < high, but got low={low}, high={high}")
    if log and low <= 0:
        raise ValueError(f"a log range needs low > 0, but got low={low}")
    if step is not None:
        if step <= 0:
            raise ValueError(f"step must be > 0, but got {step}")
        if log and step != 1:
            raise ValueError("step and log cannot be combined (drop one of them)")


def _kind_of(raw: Any) -> str:
    """Pick the entry kind from the raw YAML value (the pydantic discriminator)."""
    if isinstance(raw, BaseParam):
        return raw.type.value
    if not isinstance(raw, Mapping):
        return ParamKind.FIXED.value
    declared = raw.get("type")
    if declared in {k.value for k in ParamKind}:
        return str(declared)
    if "choices" in raw:
        return ParamKind.CATEGORICAL.value
    if "value" in raw:
        return ParamKind.FIXED.value
    low, high = raw.get("low"), raw.get("high")
    ints = all(isinstance(b, int) and not isinstance(b, bool) for b in (low, high))
    step_is_int = isinstance(raw.get("step", 1), int)
    return ParamKind.INT.value if ints and step_is_int else ParamKind.FLOAT.value


def _wrap_plain(raw: Any) -> Any:
    """A plain value under ``space:`` means a fixed parameter."""
    if isinstance(raw, (Mapping, BaseParam)):
        return raw
    return {"value": raw}


SpaceEntry = Annotated[
    Union[
        Annotated[FloatParam, Tag(ParamKind.FLOAT.value)],
        Annotated[IntParam, Tag(ParamKind.INT.value)],
        Annotated[CategoricalParam, Tag(ParamKind.CATEGORICAL.value)],
        Annotated[FixedParam, Tag(ParamKind.FIXED.value)],
    ],
    Discriminator(_kind_of),
    BeforeValidator(_wrap_plain),
]


class Suggester(Protocol):
    """What :func:`suggest_params` needs from a trial: the three suggest calls of Optuna."""

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = ..., log: bool = ...
    ) -> float: ...

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = ..., log: bool = ...
    ) -> int: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


def is_active(entry: BaseParam, values: Mapping[str, Any]) -> bool:
    """True when every ``when`` condition of ``entry`` holds for the values chosen so far."""
    for other, allowed in entry.condition().items():
        if other not in values or not any(same_value(values[other], a) for a in allowed):
            return False
    return True


def same_value(a: Any, b: Any) -> bool:
    # YAML gives True and 1 as different types; a condition on a bool must not match an int.
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def suggest_params(space: Mapping[str, BaseParam], trial: Suggester) -> dict[str, Any]:
    """Suggest every active parameter in file order (define-by-run) and return all values.

    Fixed values are returned too but are not suggested, so they do not appear among the
    trial's Optuna params.
    """
    values: dict[str, Any] = {}
    for name, entry in space.items():
        if not is_active(entry, values):
            continue
        if isinstance(entry, FloatParam):
            values[name] = trial.suggest_float(
                name, entry.low, entry.high, step=entry.step, log=entry.log
            )
        elif isinstance(entry, IntParam):
            values[name] = trial.suggest_int(
                name, entry.low, entry.high, step=entry.step, log=entry.log
            )
        elif isinstance(entry, CategoricalParam):
            values[name] = trial.suggest_categorical(name, list(entry.choices))
        elif isinstance(entry, FixedParam):
            values[name] = entry.value
    return values


def complete_params(space: Mapping[str, BaseParam], sampled: Mapping[str, Any]) -> dict[str, Any]:
    """Add the active fixed values of ``space`` to the params a trial sampled."""
    values: dict[str, Any] = {}
    for name, entry in space.items():
        if not is_active(entry, values):
            continue
        if isinstance(entry, FixedParam):
            values[name] = entry.value
        elif name in sampled:
            values[name] = sampled[name]
    return values


def sample_params(space: Mapping[str, BaseParam]) -> dict[str, Any]:
    """One point of the space, for showing what a trial gets: fixed values, first choices,
    lower bounds (only the entries whose ``when`` holds)."""
    values: dict[str, Any] = {}
    for name, entry in space.items():
        if not is_active(entry, values):
            continue
        if isinstance(entry, FixedParam):
            values[name] = entry.value
        elif isinstance(entry, CategoricalParam):
            values[name] = entry.choices[0]
        elif isinstance(entry, (FloatParam, IntParam)):
            values[name] = entry.low
    return values


def describe(entry: BaseParam) -> str:
    """A short human description of an entry, for ``automl validate``."""
    if isinstance(entry, FixedParam):
        text = f"fixed {entry.value!r}"
    elif isinstance(entry, CategoricalParam):
        text = "one of " + ", ".join(repr(c) for c in entry.choices)
    elif isinstance(entry, (FloatParam, IntParam)):
        kind = "int" if isinstance(entry, IntParam) else "float"
        text = f"{kind} in [{entry.low}, {entry.high}]"
        if entry.log:
            text += ", log scale"
        if isinstance(entry, FloatParam) and entry.step is not None:
            text += f", step {entry.step}"
        if isinstance(entry, IntParam) and entry.step != 1:
            text += f", step {entry.step}"
    else:  # pragma: no cover - the union is closed
        text = repr(entry)
    if entry.when:
        conds = ", ".join(f"{k} in {list(v)}" for k, v in entry.condition().items())
        text += f"  (only when {conds})"
    return text
