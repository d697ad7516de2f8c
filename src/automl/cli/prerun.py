"""The checks before a run, shared by `automl run` and `automl validate`, keeping what they build.

Everything the user wrote is checked here, in this order, before anything is written: the
study file with the flags applied, the storage URL's kind, the data (or your own code) and
what :mod:`automl.auto` fills in, the sampler and the pruner, the checkpoint location. `run`
then opens the study with the sampler and pruner built here; `validate` prints what was found.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from automl.cli.common import load_with_overrides, resolve_study, run_overrides
from automl.search import build_sampler, study_pruner
from automl.search.checkpoints import checkpoint_location, open_store
from automl.search.storage import storage_kind
from automl.studyfile import StudySpec

if TYPE_CHECKING:
    import optuna

    from automl.auto import Choice
    from automl.training import Dataset


@dataclass(frozen=True)
class Checked:
    """A study file checked for a run, and what the checks built."""

    spec: StudySpec  # resolved: what the study file left out is filled in
    dataset: Dataset | None  # the data, loaded once (None for your own code)
    sampler: optuna.samplers.BaseSampler
    pruner: optuna.pruners.BasePruner
    checkpoints: str | None  # where trials keep checkpoints; None: they keep none
    choices: list[Choice] = field(default_factory=list)  # what automl chose, and why


def check_run(args: argparse.Namespace) -> Checked:
    """Check the study file ``args.spec`` with the run flags in ``args``; raises the error of the
    first thing that is wrong (an :class:`automl.errors.AutoMLError`) and writes nothing."""
    spec = load_with_overrides(args.spec, run_overrides(args))
    storage_kind(spec.storage)  # a storage URL of no known kind, before the data is read
    spec, dataset, choices = resolve_study(spec)
    sampler = build_sampler(spec.search.sampler, spec.space)
    pruner = study_pruner(spec)
    checkpoints = checkpoint_location(spec, spec.storage)
    if checkpoints is not None:
        open_store(checkpoints)  # refuses a location of the wrong kind; creates nothing
    return Checked(spec, dataset, sampler, pruner, checkpoints, choices)
