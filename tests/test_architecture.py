"""The rules of ARCHITECTURE.md, checked against the code: who may import whom, module size,
no private name used across packages, and Optuna's private names only behind their one door. A
change that breaks a rule changes ARCHITECTURE.md and the table below together, on purpose."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "automl"
ARCHITECTURE = Path(__file__).resolve().parents[1] / "ARCHITECTURE.md"

# Leaves import nothing from automl (errors may be imported by anything).
LEAVES = {"errors", "masking", "processes", "settings", "trial_attrs", "logs"}
# Each room and the rooms it may import (leaves are always allowed). Data flows one way: every
# edge points down this table, so there is no cycle.
ALLOWED: dict[str, set[str]] = {
    "studyfile": set(),
    "training": {"studyfile"},
    "search": {"studyfile"},
    "auto": {"studyfile"},
    "usercode": {"studyfile", "training"},
    "tracking": {"studyfile", "search"},
    "runner": {"studyfile", "training", "search", "usercode", "tracking"},
    "worker": {"studyfile", "training", "search", "runner"},
    "artifacts": {"studyfile", "training", "search"},
    "backends": {"studyfile", "training", "search", "runner", "worker"},
    "coordinator": {"studyfile", "search", "backends"},
    "report": {"studyfile", "search", "coordinator"},
    "dashboard": set(),
    "cli": {
        "studyfile",
        "training",
        "search",
        "auto",
        "usercode",
        "tracking",
        "runner",
        "worker",
        "artifacts",
        "backends",
        "coordinator",
        "report",
        "dashboard",
    },  # fmt: skip
}
MAX_LINES = 300
# The one door to Optuna's internals: the only place in src/ that may name Optuna's private
# modules, attributes and methods (each touch guarded by tests/search/test_internals_guards.py).
OPTUNA_DOOR = SRC / "search" / "internals"


def _room(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py") if rel.parts[0] != "__init__.py" else "automl"


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, names imported from it, line) for every automl import, lazy ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] == "automl"
        ):
            found.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found += [
                (a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] == "automl"
            ]
    return found


def _target_room(module: str, names: list[str]) -> list[str]:
    parts = module.split(".")
    if len(parts) > 1:
        return [parts[1]]
    # from automl import x
    return [n for n in names if (SRC / n).is_dir() or (SRC / f"{n}.py").is_file()]


def _sources() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_every_room_is_in_the_table() -> None:
    rooms = {_room(p) for p in _sources()} - {"automl", "__main__"}
    assert rooms == set(ALLOWED) | LEAVES, (
        "a new package or leaf: add it to ALLOWED or LEAVES and ARCHITECTURE.md"
    )


def test_imports_follow_the_one_way_flow() -> None:
    wrong = []
    for path in _sources():
        room = _room(path)
        if room in ("automl", "__main__"):
            continue
        allowed = (set() if room in LEAVES else ALLOWED[room] | LEAVES) | {room, "errors"}
        for module, names, line in _imports(path):
            for target in _target_room(module, names):
                if target not in allowed:
                    wrong.append(f"{path.relative_to(SRC)}:{line} {room} imports {target}")
    assert not wrong, "imports against ARCHITECTURE.md:\n" + "\n".join(wrong)


def test_no_private_name_crosses_a_package() -> None:
    wrong = []
    for path in _sources():
        room = _room(path)
        for module, names, line in _imports(path):
            targets = _target_room(module, names)
            if targets and targets[0] != room:
                private = [n for n in names if n.startswith("_")]
                private += [p for p in module.split(".") if p.startswith("_") and p != "__init__"]
                if private:
                    wrong.append(
                        f"{path.relative_to(SRC)}:{line} imports {', '.join(private)} from {module}"
                    )
    assert not wrong, "\n".join(wrong)


def _optuna_private_names() -> set[str]:
    """Every name with one leading underscore that Optuna's source defines or uses."""
    import optuna

    names: set[str] = set()
    for path in Path(optuna.__file__).parent.rglob("*.py"):
        names |= set(re.findall(r"(?<![\w])_[A-Za-z]\w*", path.read_text()))
    return {n for n in names if not n.endswith("__")}


def _optuna_reaches(path: Path, private: set[str]) -> list[str]:
    """Optuna's private names in ``path``: imported from a private module or by a private
    name, an attribute of anything but ``self``/``cls``, or a string given to getattr & co."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "optuna":
            hidden = [p for p in (node.module or "").split(".") if p.startswith("_")]
            hidden += [a.name for a in node.names if a.name.startswith("_")]
            found += (
                [f"{line} from {node.module} import {', '.join(a.name for a in node.names)}"]
                if hidden
                else []
            )
        elif isinstance(node, ast.Import):
            found += [
                f"{line} import {a.name}"
                for a in node.names
                if a.name.split(".")[0] == "optuna" and "._" in a.name
            ]
        elif isinstance(node, ast.Attribute) and node.attr in private:
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append(f"{line} .{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) > 1:
            name = node.args[1]
            if (
                node.func.id in ("getattr", "hasattr", "setattr", "delattr")
                and isinstance(name, ast.Constant)
                and name.value in private
            ):
                found.append(f"{line} {node.func.id}(..., {name.value!r})")
    return found


def test_optunas_private_names_are_reached_only_behind_their_door() -> None:
    private = _optuna_private_names()
    assert {
        "_storage",
        "_trial_id",
        "_rdb",
        "_create_scoped_session",
    } <= private  # the scan still finds them
    wrong = [
        f"{path.relative_to(SRC)}:{reach}"
        for path in _sources()
        if OPTUNA_DOOR not in path.parents
        for reach in _optuna_reaches(path, private)
    ]
    assert not wrong, (
        "Optuna's private names outside automl/search/internals/ (give each a named "
        "function there, "
        "with its guard in tests/search/test_internals_guards.py):\n" + "\n".join(wrong)
    )


def test_no_module_is_longer_than_one_reader_holds() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in _sources()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split them): {long}"


def test_architecture_md_names_every_room_and_its_imports() -> None:
    text = ARCHITECTURE.read_text()
    for room, allowed in ALLOWED.items():
        row = re.search(rf"^\| `{room}/` \|[^|]*\| ([^|]*) \|$", text, re.MULTILINE)
        assert row, f"ARCHITECTURE.md has no row for {room}/"
        written = set(re.findall(r"`(\w+)`", row.group(1)))
        assert written == allowed, (
            f"ARCHITECTURE.md says {room}/ may import {sorted(written)}; the rule is "
            f"{sorted(allowed)}"
        )
    for leaf in LEAVES:
        assert f"`{leaf}.py`" in text, f"ARCHITECTURE.md does not name the leaf {leaf}.py"


def test_the_rules_have_no_cycle() -> None:
    graph = defaultdict(set, {k: set(v) for k, v in ALLOWED.items()})
    seen: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"cycle: {' -> '.join(path + (node,))}"
        for nxt in graph[node]:
            visit(nxt, path + (node,))
        seen.add(node)

    for room in ALLOWED:
        visit(room, ())
