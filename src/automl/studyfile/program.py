"""``train: {command: [...]}``: any program, run once per trial, as the program already is.

How params reach it (``params``, ``rename`` and placeholders in ``command``), where its values
are read from (JSON lines, always; ``metric``: a regular expression over its log lines, or
TensorBoard event files), and how it resumes from its own checkpoint folder (``resume``).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from automl.studyfile.sections import Frozen, Seconds

# The styles of the params that the command does not place itself.
ParamStyle = Literal["--{name} {value}", "--{name}={value}", "{name}={value}", "none"]
# What a placeholder in the command may name besides a param.
BUILT_IN_PLACEHOLDERS = ("checkpoint_dir", "trial", "params_json")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.-]*)\}")


class TensorBoardSource(Frozen):
    """Scalars of one tag in the TensorBoard event files under ``dir`` (placeholders allowed)."""

    dir: str = Field(min_length=1)
    tag: str = Field(min_length=1)


class MetricSource(Frozen):
    """Where one objective's values come from, besides JSON lines: ``pattern`` or
    ``tensorboard``."""

    pattern: str | None = None
    tensorboard: TensorBoardSource | None = None
    final: Literal["last", "best"] = "last"  # the final value when the program prints none

    @field_validator("pattern")
    @classmethod
    def _check_pattern(cls, pattern: str | None) -> str | None:
        if pattern is None:
            return None
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"the regular expression does not compile: {exc}") from None
        if "value" not in compiled.groupindex:
            raise ValueError(
                "the regular expression needs a named group (?P<value>...) for the number"
            )
        return pattern

    @model_validator(mode="after")
    def _one_source(self) -> MetricSource:
        if (self.pattern is None) == (self.tensorboard is None):
            raise ValueError(
                "give pattern: (a regular expression) or tensorboard: {dir, tag}, one of them"
            )
        return self

    def describe(self) -> str:
        if self.pattern is not None:
            return f"pattern {self.pattern!r}"
        assert self.tensorboard is not None
        return f"tensorboard tag {self.tensorboard.tag!r} under {self.tensorboard.dir}"


class TrainCommand(Frozen):
    """``train: {command: [...], timeout: 2h, ...}``: any program, run once per trial."""

    command: list[str] = Field(min_length=1)
    timeout: Seconds | None = None  # per trial
    params: ParamStyle = "--{name} {value}"
    rename: dict[str, str] = Field(default_factory=dict)  # param -> the program's own name
    # One source for a single objective, or one per objective name when there are several.
    metric: MetricSource | dict[str, MetricSource] | None = None
    resume: list[str] = Field(default_factory=list)  # appended when the trial resumes a folder

    @field_validator("command")
    @classmethod
    def _check_command(cls, command: list[str]) -> list[str]:
        if not command[0].strip():
            raise ValueError("the program to run (the first item) is empty")
        return command

    @field_validator("timeout")
    @classmethod
    def _check_timeout(cls, timeout: float | None) -> float | None:
        if timeout is not None and timeout <= 0:
            raise ValueError(f"must be > 0, but got {timeout:g} s")
        return timeout

    @field_validator("rename")
    @classmethod
    def _check_rename(cls, rename: dict[str, str]) -> dict[str, str]:
        for name, theirs in rename.items():
            if not theirs.strip() or any(c.isspace() for c in theirs):
                raise ValueError(
                    f"{name}: the program's name for it must be one word, got {theirs!r}"
                )
        return rename

    def placeholders(self) -> list[str]:
        """Every name in ``{...}`` in the command, the resume arguments and TensorBoard dirs."""
        texts = [
            *self.command,
            *self.resume,
            *(s.tensorboard.dir for s in self.sources().values() if s.tensorboard),
        ]
        return [m.group(1) for text in texts for m in PLACEHOLDER.finditer(text)]

    def sources(self) -> dict[str, MetricSource]:
        """The metric sources by objective name ("" for the single objective's)."""
        if self.metric is None:
            return {}
        return {"": self.metric} if isinstance(self.metric, MetricSource) else dict(self.metric)
