"""The command line of one trial of a program, built from ``train:`` and the trial's params.

* Placeholders anywhere in an argument: ``{checkpoint_dir}``, ``{trial}``, ``{params_json}``
  and any param's name (``--lr={lr}``, ``optimizer.lr={lr}``). A param placed this way is not
  appended again.
* The other params are appended in ``train.params`` style: ``--{name} {value}`` (two
  arguments; a boolean is a bare flag, present when true and left out when false),
  ``--{name}={value}``, ``{name}={value}`` (Hydra), or ``none`` (the environment only).
  ``train.rename`` gives a param the program's own name.
* ``train.resume`` is appended when the trial resumes from a restored, non-empty folder.

Every value is one argument of its own: nothing goes through a shell, so a value holding
spaces, quotes or ``;`` reaches the program as written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from automl.studyfile.program import PLACEHOLDER, TrainCommand


def as_text(value: Any) -> str:
    """A value as the program reads it: Python's own spelling (``True``, ``0.001``, ``adamw``)."""
    return str(value)


def build_command(
    train: TrainCommand,
    params: Mapping[str, Any],
    trial: int,
    checkpoint_dir: str,
    *,
    resuming: bool = False,
) -> list[str]:
    """The argument list of one trial (see the module docstring)."""
    fills = {name: as_text(value) for name, value in params.items()}
    fills |= {
        "checkpoint_dir": checkpoint_dir,
        "trial": str(trial),
        "params_json": json.dumps(dict(params)),
    }
    placed = set(train.placeholders())
    args = [fill(arg, fills) for arg in train.command]
    for name, value in params.items():
        if name in placed:
            continue
        theirs = train.rename.get(name, name)
        if train.params == "--{name} {value}":
            if isinstance(value, bool):
                args += [f"--{theirs}"] if value else []
            else:
                args += [f"--{theirs}", as_text(value)]
        elif train.params == "--{name}={value}":
            args.append(f"--{theirs}={as_text(value)}")
        elif train.params == "{name}={value}":
            args.append(f"{theirs}={as_text(value)}")
    if resuming:
        args += resume_args(train, fills)
    return args


def resume_args(train: TrainCommand, fills: Mapping[str, str]) -> list[str]:
    """What is appended when the trial resumes from its restored folder."""
    return [fill(arg, fills) for arg in train.resume]


def fill(text: str, fills: Mapping[str, str]) -> str:
    """``text`` with every ``{name}`` that ``fills`` knows replaced (others left as they are)."""
    return PLACEHOLDER.sub(lambda m: fills.get(m.group(1), m.group(0)), text)
