"""``automl validate`` and ``automl run`` check your own code before anything is written:
a function is imported and its signature checked (it is not called); a program must exist
and be executable."""

from __future__ import annotations

import os
import shutil

from automl.errors import SpecError
from automl.studyfile.schema import StudySpec, TrainCommand
from automl.usercode.function import import_function


def check_train(spec: StudySpec) -> None:
    train = spec.train
    if isinstance(train, TrainCommand):
        program = train.command[0]
        if os.sep in program:
            ok = os.path.isfile(program) and os.access(program, os.X_OK)
        else:
            ok = shutil.which(program) is not None
        if not ok:
            raise SpecError(
                "train.command",
                f"{program!r} is not an executable program here (on PATH, or a path to "
                "an executable file)",
            )
    elif train is not None:
        import_function(train)
