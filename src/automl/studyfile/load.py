"""Load a study file: safe YAML -> :class:`StudySpec`, every error as one :class:`SpecError` line.

Loading reads the file and nothing else: it never touches a storage, so a bad file writes nothing.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from automl.errors import SpecError
from automl.studyfile import schema as m
from automl.studyfile.checks import check_semantics
from automl.studyfile.program import MetricSource
from automl.studyfile.space import CategoricalParam, FixedParam, FloatParam, IntParam, ParamKind


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` (no Python object tags) that also refuses duplicate keys."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates
)


def load_spec(path: str | os.PathLike[str]) -> m.StudySpec:
    """Read and validate a study file. Relative data paths are resolved against its folder."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("", f"study file {str(file)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError("", f"cannot read study file {str(file)!r}: {exc}") from None
    return parse_spec(text, base_dir=file.resolve().parent, source=str(file))


def parse_spec(text: str, *, base_dir: Path | None = None, source: str = "<study>") -> m.StudySpec:
    """Validate study-file text; ``base_dir`` anchors relative ``csv:``/``npz:`` paths."""
    try:
        loader = _StrictLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _check_expansion(node)
            raw = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError("", f"{source} is not valid YAML{where}: {problem}") from None
    if not isinstance(raw, dict):
        raise SpecError("", f"{source} must be a mapping of sections (name, objective, data, ...)")
    return validate_mapping(_anchor_paths(raw, base_dir))


MAX_VALUES = 10_000  # values in a study file once YAML aliases are expanded


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a file whose aliases expand it past MAX_VALUES values: a few hundred bytes of
    nested anchors and aliases can stand for gigabytes ("billion laughs"). Counted on the
    node graph, before anything is built; the error names where the limit was passed."""
    count = 0
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise SpecError(
                path,
                f"expands to more than {MAX_VALUES:,} values through YAML anchors and "
                "aliases; write the values out",
            )
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else "?"
                stack.append((value, f"{path}.{name}" if path else str(name)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(
                (item, f"{path}.{i}" if path else str(i)) for i, item in enumerate(node.value)
            )


def validate_mapping(raw: Mapping[str, Any]) -> m.StudySpec:
    """Plain data -> StudySpec, with every check a study file gets."""
    try:
        spec = m.StudySpec.model_validate(raw)
    except ValidationError as exc:
        raise spec_error_from(exc) from None
    check_semantics(spec)
    return spec


def _anchor_paths(raw: dict[str, Any], base_dir: Path | None) -> dict[str, Any]:
    data = raw.get("data")
    if base_dir is None or not isinstance(data, dict) or not isinstance(data.get("source"), str):
        return raw
    kind, _, rest = data["source"].partition(":")
    if kind in ("csv", "npz") and rest and not Path(rest).is_absolute():
        data = {**data, "source": f"{kind}:{(base_dir / rest).resolve()}"}
        return {**raw, "data": data}
    return raw


_UNION_TAGS = frozenset(kind.value for kind in ParamKind)  # the tags of the space union


def spec_error_from(exc: ValidationError) -> SpecError:
    """The first pydantic error as one SpecError line with the user's YAML path.

    A misspelt key also makes the key it was meant to be "missing"; the misspelling is the
    error worth reporting, so unknown keys with a close known name go first.
    """
    errors = exc.errors(include_url=False)
    # train: is a function reference or a {command: ...} mapping; report the errors of the
    # form the user wrote, not "should be a valid string" for a mapping.
    wrote_mapping = [
        e for e in errors if e["loc"][:2] == ("train", "str") and not isinstance(e["input"], str)
    ]
    if wrote_mapping:
        errors = [e for e in errors if e["loc"][:2] != ("train", "str")]
    # objective: is one mapping or a list of them; likewise keep the form the user wrote.
    wrote_list = any(_objective_member(e) == "one" and isinstance(e["input"], list) for e in errors)
    wrote_one = any(_objective_member(e) == "list" and len(e["loc"]) == 2 for e in errors)
    if wrote_list or wrote_one:
        noise = "one" if wrote_list else "list"
        errors = [e for e in errors if _objective_member(e) != noise] or errors
    # train.metric: is one source or a mapping of them by objective; keep the form written.
    fields = set(MetricSource.model_fields)
    wrote_names = any(
        _metric_member(e) == "one" and e["type"] == "extra_forbidden"
        and not difflib.get_close_matches(str(e["loc"][4]), sorted(fields), n=1, cutoff=0.75)
        for e in errors
    )  # fmt: skip
    wrote_source = any(
        _metric_member(e) == "dict" and len(e["loc"]) > 4 and str(e["loc"][4]) in fields
        for e in errors
    )
    if wrote_names or wrote_source:
        noise = "one" if wrote_names else "dict"
        errors = [e for e in errors if _metric_member(e) != noise] or errors
    typos = [
        e
        for e in errors
        if e["type"] == "extra_forbidden" and e["loc"] and _did_you_mean(str(e["loc"][-1]))
    ]
    err = (typos or errors)[0]
    loc = [str(p) for p in err["loc"]]
    # The space union adds its tag to the path ("space.lr.float.low"); users never wrote it.
    if len(loc) >= 3 and loc[0] == "space" and loc[2] in _UNION_TAGS:
        del loc[2]
    if loc and loc[-1].startswith("function-"):
        loc.pop()
    # The other unions add their member's name too ("train.TrainCommand.command",
    # "objective.metric.str-enum[Metric]"); only the keys the user wrote stay.
    if len(loc) >= 2 and loc[0] == "train" and loc[1] in ("str", "TrainCommand"):
        del loc[1]
    if len(loc) >= 3 and loc[:2] == ["train", "metric"] and "MetricSource" in loc[2]:
        del loc[2]
    if len(loc) >= 2 and loc[0] == "objective" and "Objective" in loc[1]:
        del loc[1]
    if loc[:2] == ["objective", "metric"]:
        del loc[2:]
    if len(loc) >= 3 and loc[0] == "objective" and loc[2] == "metric":
        del loc[3:]
    path = ".".join(loc)
    message = err["msg"].removeprefix("Value error, ")
    if path == "train" and "TrainCommand" in message:
        message = "write python:package.module:function, or {command: [program, args...]}"
    hint = None
    if err["type"] == "extra_forbidden":
        message = "unknown key"
        hint = _did_you_mean(loc[-1] if loc else "")
    elif err["type"] == "missing":
        message = "is required"
    elif err["type"] == "literal_error" or err["type"] == "enum":
        message = f"{err['input']!r} is not allowed; " + message.replace("Input should be", "use")
    return SpecError(path, message, hint=hint)


def _metric_member(error: Any) -> str | None:
    """Which member of train.metric's union an error is about: "one", "dict", or None."""
    loc = [str(p) for p in error["loc"]]
    if (
        len(loc) < 5
        or loc[:3] != ["train", "TrainCommand", "metric"]
        or "MetricSource" not in loc[3]
    ):
        return None
    return "dict" if loc[3].startswith("dict[") else "one"


def _objective_member(error: Any) -> str | None:
    """Which member of the objective union an error is about: "one", "list", or None."""
    loc = error["loc"]
    if len(loc) < 2 or loc[0] != "objective" or "Objective" not in str(loc[1]):
        return None
    return "list" if str(loc[1]).startswith("list[") else "one"


def _all_field_names() -> set[str]:
    names: set[str] = set()
    stack: list[type[BaseModel]] = [m.StudySpec, FloatParam, IntParam, CategoricalParam, FixedParam]
    seen: set[type[BaseModel]] = set()
    while stack:
        model = stack.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            names.add(name)
            for candidate in _models_in(field.annotation):
                stack.append(candidate)
    return names


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        found.extend(_models_in(arg))
    return found


def _did_you_mean(key: str) -> str | None:
    close = difflib.get_close_matches(key, sorted(_all_field_names()), n=1, cutoff=0.75)
    return f"did you mean {close[0]!r}?" if close else None


def apply_overrides(spec: m.StudySpec, overrides: Mapping[str, Any]) -> m.StudySpec:
    """A copy of ``spec`` with dotted paths (``search.n_trials``) set, validated like the file."""
    if not overrides:
        return spec
    # Only what the file set, plus the flags: what was left out stays "left out", so that the
    # AutoML defaults can still fill it in.
    data = spec.model_dump(mode="json", exclude_unset=True)
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return validate_mapping(data)


def as_mapping(spec: m.StudySpec) -> Mapping[str, Any]:
    """The resolved study as plain JSON-safe data (what is stored on the Optuna study)."""
    return spec.model_dump(mode="json", exclude_none=False)
