"""What several commands share: reading a study file with command-line overrides applied."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from automl.errors import SpecError, UsageError
from automl.settings import Settings
from automl.studyfile import StudySpec, load_spec
from automl.studyfile.load import apply_overrides
from automl.studyfile.program import TrainCommand

if TYPE_CHECKING:
    from automl.auto import Choice
    from automl.training import Dataset

STORAGE_ENV = "AUTOML_STORAGE"
BROKER_ENV = "AUTOML_BROKER"


def read_settings() -> Settings:
    """automl's tunables (:mod:`automl.settings`), read from the environment once per command
    and passed down from here: a command opens its storage with ``storage_retry_s``."""
    return Settings.from_env()


def add_storage_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage",
        metavar="URL",
        help=f"Optuna storage URL (default: ${STORAGE_ENV}, else the study file's)",
    )


def load_with_overrides(path: str, overrides: dict[str, Any]) -> StudySpec:
    """Load ``path`` and apply flag values; ``overrides`` maps dotted paths to values (None = not
    given).

    The environment stands in for flags left out (AUTOML_STORAGE, AUTOML_BROKER), so secrets
    need not be written in the study file.
    """
    spec = load_spec(path)
    env = {"storage": os.environ.get(STORAGE_ENV), "execution.broker": os.environ.get(BROKER_ENV)}
    merged = {k: v for k, v in env.items() if v} | {
        k: v for k, v in overrides.items() if v is not None
    }
    return apply_overrides(spec, merged)


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that change what ``automl run`` does (``automl validate`` takes them too, so
    a user can check exactly what run will do)."""
    from automl.studyfile import BackendKind

    parser.add_argument(
        "--backend",
        choices=[b.value for b in BackendKind],
        help="where trials run (default: the file's)",
    )
    parser.add_argument("--parallelism", type=int, metavar="N", help="trials in flight at once")
    parser.add_argument(
        "--n-trials",
        type=int,
        metavar="N",
        help="trials with a result (complete or pruned) in the study",
    )
    parser.add_argument(
        "--timeout", metavar="DURATION", help="stop dispatching after this long, e.g. 90s, 30m, 2h"
    )
    add_storage_flag(parser)


def run_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """What :func:`add_run_flags` flags change in the study file (None: not given)."""
    from automl.studyfile import parse_duration

    timeout = None
    if args.timeout is not None:
        try:
            timeout = parse_duration(args.timeout)
        except ValueError as exc:
            raise UsageError(f"--timeout: {exc}") from None
    return {
        "storage": args.storage,
        "execution.backend": args.backend,
        "execution.parallelism": args.parallelism,
        "search.n_trials": args.n_trials,
        "search.timeout": timeout,
    }


def add_study_flags(parser: argparse.ArgumentParser) -> None:
    """SPEC, or --storage and --study: how every command that reads a study finds it."""
    parser.add_argument(
        "spec", metavar="SPEC", nargs="?", help="the study file (or give --storage and --study)"
    )
    add_storage_flag(parser)
    parser.add_argument(
        "--study", metavar="NAME", help="the study name (default: the study file's)"
    )


def check_data(spec: StudySpec) -> Dataset:
    """Load the data once, so that a bad data file is a usage error before anything is written."""
    from automl.training import load_dataset  # imports torch: only for commands that need it
    from automl.training.models import check_fits

    dataset = load_dataset(spec.dataset, spec.primary.builtin.task)
    check_fits(spec.model, dataset.input_shape)
    return dataset


def resolve_study(spec: StudySpec) -> tuple[StudySpec, Dataset | None, list[Choice]]:
    """Check the data, then fill in what the study file left out (see :mod:`automl.auto`).
    A study of your own code (``train:``) has no data here: its code is checked instead."""
    from automl.tracking import check_tracking

    spec = check_tracking(spec)  # named trackers installed; their paths made absolute
    if spec.own_code:
        from automl.search.checkpoints import checkpoint_location
        from automl.usercode.check import check_train

        check_train(spec)
        if (
            isinstance(spec.train, TrainCommand)
            and spec.train.resume
            and checkpoint_location(spec, spec.storage) is None
        ):
            raise SpecError(
                "train.resume", "resumes from a checkpoint folder, but this study keeps none; "
                "set execution.checkpoints (a folder the workers share, or s3://...)",
            )  # fmt: skip
        return spec, None, []
    # the built-in trainer's checks only: a study of your own code never imports it here
    import torch

    from automl.auto import DataFacts, complete_spec
    from automl.training.models import check_fits

    dataset = check_data(spec)
    facts = DataFacts(len(dataset.X_train), dataset.input_shape, dataset.task)
    gpus = torch.cuda.device_count() if spec.trainer.device in ("auto", "cuda") else 0
    resolved, choices = complete_spec(spec, facts, n_gpus=gpus)
    check_fits(resolved.model, dataset.input_shape)  # a chosen family must fit the data too
    from automl.training.memory import check_memory

    check_memory(resolved, dataset.input_shape, dataset.n_outputs)
    return resolved, dataset, choices


def storage_for_study(args: argparse.Namespace) -> tuple[str, str]:
    """(storage URL, study name) from a study file or from --storage/--study."""
    spec_path = getattr(args, "spec", None)
    if spec_path:
        spec = load_with_overrides(spec_path, {"storage": args.storage})
        return spec.storage, args.study or spec.name
    storage = args.storage or os.environ.get(STORAGE_ENV)
    if not storage or not args.study:
        raise UsageError(
            "give a study file, or --storage URL (or $AUTOML_STORAGE) and --study NAME"
        )
    return storage, args.study
