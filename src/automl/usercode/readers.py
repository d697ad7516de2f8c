"""Values a program already prints or writes, besides JSON lines: log lines and TensorBoard.

``train.metric`` gives each objective a source: a regular expression over the program's stdout
lines with a named group ``value`` (and optionally ``step``; without it the n-th match is step
n), or the scalars of one tag in the TensorBoard event files under a folder. A step is reported
once every objective has its value there. Steps at or before the one a resumed trial went on
from are skipped (the carried-over curve already has them), and so is any step not after the
last one reported. When the program exits without a final JSON value, the final value is the
last step read, or the best one (by the first objective) with ``final: best``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from automl.errors import SpecError
from automl.studyfile.program import MetricSource, TrainCommand
from automl.training.reporter import Reported
from automl.usercode.command import fill

Event = tuple[int, Reported]


class MetricReader:
    """The objectives' values from lines and event files, as (step, value) events."""

    def __init__(
        self,
        train: TrainCommand,
        names: Sequence[str],
        maximize: Sequence[bool],
        fills: Mapping[str, str],
        after_step: int = 0,
        carried: Mapping[int, Reported] | None = None,
    ) -> None:
        sources = train.sources()
        self.sources: dict[str, MetricSource] = (
            {names[0]: sources[""]} if "" in sources else sources
        )
        self.names, self._maximize = list(names), maximize[0]
        self._patterns = {
            n: re.compile(s.pattern) for n, s in self.sources.items() if s.pattern is not None
        }
        self._matches = dict.fromkeys(self._patterns, after_step)  # n-th match -> step n
        self._boards = {n: _Board(fill(s.tensorboard.dir, fills), s.tensorboard.tag)
                        for n, s in self.sources.items() if s.tensorboard is not None}  # fmt: skip
        self._after = after_step  # steps up to here were carried over
        self._pending: dict[int, dict[str, float]] = {}
        # a resumed trial's curve so far
        self._carried: list[Event] = sorted((carried or {}).items())
        self.read: list[Event] = []

    @property
    def active(self) -> bool:
        return bool(self.sources)

    def feed(self, line: str) -> list[Event]:
        """Events completed by one stdout line."""
        found = []
        for name, pattern in self._patterns.items():
            match = pattern.search(line)
            if match is None:
                continue
            number = _number(match.group("value"))
            if number is None:
                continue
            if "step" in pattern.groupindex and match.group("step") is not None:
                step = _whole(match.group("step"))
                if step is None:
                    continue
            else:
                self._matches[name] += 1
                step = self._matches[name]
            found.append((name, step, number))
        return self._add(found)

    def poll(self) -> list[Event]:
        """Events completed by what the event files gained since the last poll."""
        return self._add(
            [
                (name, step, value)
                for name, board in self._boards.items()
                for step, value in board.poll()
            ]
        )

    def final(self) -> Reported | None:
        """The final value when the program printed none: the last step read (after the steps
        carried over from before a resume), or the best."""
        events = [*self._carried, *self.read]
        if not events or not self.sources:
            return None
        first = next(iter(self.sources.values()))
        if first.final == "last":
            return events[-1][1]
        return max(events, key=lambda event: self._score(event[1]))[1]

    def describe(self) -> str:
        return "; ".join(
            f"{name}: {s.describe()}" if len(self.sources) > 1 else s.describe()
            for name, s in self.sources.items()
        )

    def _score(self, value: Reported) -> float:
        number = value[self.names[0]] if isinstance(value, Mapping) else value
        if not math.isfinite(number):
            return -math.inf
        return number if self._maximize else -number

    def _add(self, found: list[tuple[str, int, float]]) -> list[Event]:
        events: list[Event] = []
        last = self.read[-1][0] if self.read else self._after
        for name, step, value in found:
            if step <= last:
                continue  # carried over from before a resume, or out of order
            self._pending.setdefault(step, {})[name] = value
        for step in sorted(self._pending):
            record = self._pending[step]
            if step <= last or len(record) < len(self.sources):
                continue
            reported: Reported = record[self.names[0]] if len(self.names) == 1 else dict(record)
            events.append((step, reported))
            last = step
        self._pending = {s: r for s, r in self._pending.items() if s > last}
        self.read.extend(events)
        return events


class _Board:
    """New scalars of one tag in the event files under a folder, read incrementally."""

    def __init__(self, folder: str, tag: str) -> None:
        try:
            from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
        except ImportError:  # pragma: no cover - checked when the study file is
            raise SpecError(
                "train.metric", "tensorboard is not installed (pip install 'automl[tensorboard]')"
            ) from None
        self._loader_class: Any = EventFileLoader
        self.folder, self.tag = Path(folder), tag
        self._loaders: dict[Path, Any] = {}

    def poll(self) -> list[tuple[int, float]]:
        out = []
        if self.folder.is_dir():
            for path in sorted(self.folder.rglob("events.out.tfevents.*")):
                if path not in self._loaders:
                    self._loaders[path] = self._loader_class(str(path))
                for event in self._loaders[path].Load():
                    for item in event.summary.value:
                        if item.tag == self.tag:
                            value = _scalar(item)
                            if value is not None:
                                out.append((int(event.step), value))
        return sorted(out)


def _scalar(item: Any) -> float | None:
    if item.HasField("simple_value"):
        return float(item.simple_value)
    values = list(item.tensor.float_val) or list(item.tensor.double_val)
    return float(values[0]) if len(values) == 1 else None


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _whole(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None
