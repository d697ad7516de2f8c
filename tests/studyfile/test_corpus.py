"""Malformed study files, as a careless user writes them: each one gets exit 2, one line naming
the YAML path and the fix, no traceback, and nothing written.

Each file in ``corpus/`` starts with ``# expect: <text>``: a piece of the line it must get.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automl.cli import main

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.yaml"))


def run_cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_the_corpus_is_large() -> None:
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
@pytest.mark.parametrize("command", ["run", "validate"])
def test_malformed_file_exits_2_with_one_line(
    path: Path, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expect = path.read_text().splitlines()[0].removeprefix("# expect: ").strip()
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli([command, str(path)])
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (out, err)
    assert len(lines) == 1, err
    assert "Traceback" not in err + out
    assert expect in " ".join(err.split()), err
    assert list(tmp_path.iterdir()) == []  # no storage, nothing at all


VALID = {
    "name": "fuzz",
    "storage": "sqlite:///fuzz.db",
    "objective": {"metric": "accuracy"},
    "data": {"source": "sklearn:iris", "cv": {"folds": 3}},
    "trainer": {"epochs": 2},
    "space": {
        "lr": {"low": 0.001, "high": 0.1, "log": True},
        "optimizer": {"choices": ["adamw", "sgd"]},
    },
    "search": {"n_trials": 2},
}

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(node: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    return found


@st.composite
def mutated_study(draw: st.DrawFn) -> dict:  # type: ignore[type-arg]
    import copy

    data = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(_values)
        elif action == "delete":
            del parent[path[-1]]
        else:
            target = parent[path[-1]] if isinstance(parent[path[-1]], dict) else parent
            target[draw(st.text(min_size=1, max_size=8))] = draw(_values)
    return data


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(study=mutated_study())
def test_any_study_file_validates_or_gets_one_line(study: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(study))
    code, out, err = run_cli(["validate", str(path)])
    assert "Traceback" not in err + out
    assert code in (0, 2), err
    if code == 2:
        assert len([line for line in err.splitlines() if line.strip()]) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fuzz.yaml"]
