"""The built-in trainer's vocabulary is written once (TrainParams); everything else agrees."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from automl.errors import SpecError
from automl.studyfile import parse_spec
from automl.studyfile import trainer_params as tp
from automl.studyfile.trainer_params import TrainParams

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_views_are_the_fields() -> None:
    names = [f.name for f in dataclasses.fields(TrainParams)]
    assert list(tp.TRAINER_PARAMS) == names
    assert set(tp.KINDS) == set(names)
    assert set(tp.TRAINER_CHOICES) | set(tp.TRAINER_DOMAINS) | {"batch_norm", "nesterov"} == set(
        names
    )
    assert not set(tp.TRAINER_CHOICES) & set(tp.TRAINER_DOMAINS)
    assert {
        "dropout",
        "depth",
        "width",
        "activation",
        "batch_norm",
        "init",
        "channels",
        "kernel_size",
    } == tp.MODEL_PARAMS


def test_every_default_is_a_value_the_trainer_takes() -> None:
    for field in dataclasses.fields(TrainParams):
        if field.default is not None:
            assert tp.value_problem(field.name, field.default) is None, field.name
            assert isinstance(field.default, tp.KINDS[field.name]), field.name


@pytest.mark.parametrize("name", sorted(tp.TRAINER_PARAMS))
def test_every_name_set_in_a_study_file_reaches_the_trainer(name: str) -> None:
    kind = tp.KINDS[name]
    value = (
        tp.TRAINER_CHOICES[name][-1] if name in tp.TRAINER_CHOICES
        else True if kind is bool
        else 3 if kind is int
        else 0.25
    )  # fmt: skip
    spec = parse_spec(
        f"name: s\nobjective: {{metric: accuracy}}\ndata: {{source: "
        f"sklearn:iris}}\nspace: {{{name}: {value}}}\n"
    )
    assert (
        getattr(TrainParams.from_mapping({name: spec.space[name].value}, batch_size=8), name)
        == value
    )  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (n, v)
        for n, (low, high, low_ok) in tp.TRAINER_DOMAINS.items()
        for v in ([high] if high < tp.INF else []) + ([] if low_ok else [low]) + [low - 1]
    ],
)
def test_values_outside_a_domain_are_refused_at_load_and_by_the_trainer(
    name: str, value: float
) -> None:
    text = (
        f"name: s\nobjective: {{metric: accuracy}}\ndata: {{source: sklearn:iris}}\nspace: "
        f"{{{name}: {value}}}\n"
    )
    with pytest.raises(SpecError, match=rf"^space\.{name}: .* is outside what {name} can be"):
        parse_spec(text)
    with pytest.raises(SpecError, match=rf"^space\.{name}: "):
        TrainParams.from_mapping({name: value}, batch_size=8)


def test_readme_documents_exactly_the_vocabulary() -> None:
    rows = re.findall(
        r"^\| `(\w+)` \| (\w+) \| ([^|]+) \| ([^|]+) \|", README.read_text(), re.MULTILINE
    )
    table = {
        name: (kind, default.strip(), values.strip())
        for name, kind, default, values in rows
        if name in tp.KINDS or kind in ("float", "int", "str", "bool")
    }
    assert list(table) == list(tp.TRAINER_PARAMS), (
        "README's parameter table is not TrainParams' fields, in order"
    )
    for field in dataclasses.fields(TrainParams):
        kind, default, values = table[field.name]
        assert kind == tp.KINDS[field.name].__name__, field.name
        expected = (
            "none"
            if field.default is None
            else str(field.default).lower()
            if isinstance(field.default, bool)
            else f"{field.default:g}"
            if isinstance(field.default, float)
            else str(field.default)
        )
        assert default == expected, field.name
        if field.name in tp.TRAINER_CHOICES:
            assert values == ", ".join(tp.TRAINER_CHOICES[field.name]), field.name
        elif field.name in tp.TRAINER_DOMAINS:
            low, high, low_ok = tp.TRAINER_DOMAINS[field.name]
            top = "inf" if high == tp.INF else f"{high:g}"
            assert values == f"{'[' if low_ok else '('}{low:g}, {top})", field.name
