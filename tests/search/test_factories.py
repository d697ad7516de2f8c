"""Samplers, pruners and storages from the study file: every name, and errors in one line."""

from __future__ import annotations

import optuna
import pytest

from automl.errors import SpecError, StorageError
from automl.masking import mask_url
from automl.search import build_pruner, build_sampler, make_storage, storage_kind
from automl.studyfile import PrunerSpec, SamplerSpec, parse_spec

SAMPLERS = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "gp": optuna.samplers.GPSampler,
    "qmc": optuna.samplers.QMCSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
    "nsga3": optuna.samplers.NSGAIIISampler,
}

PRUNERS = {
    "median": ({}, optuna.pruners.MedianPruner),
    "percentile": ({"percentile": 25.0}, optuna.pruners.PercentilePruner),
    "successive_halving": ({"min_resource": 2}, optuna.pruners.SuccessiveHalvingPruner),
    "hyperband": ({"min_resource": 2, "reduction_factor": 3}, optuna.pruners.HyperbandPruner),
    "patient": ({"patience": 3, "wrapped": {"type": "median"}}, optuna.pruners.PatientPruner),
    "threshold": ({"lower": 0.1}, optuna.pruners.ThresholdPruner),
    "wilcoxon": ({"p_threshold": 0.05}, optuna.pruners.WilcoxonPruner),
    "none": ({}, optuna.pruners.NopPruner),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_name(name: str) -> None:
    sampler = build_sampler(SamplerSpec(type=name, seed=3), {})
    assert isinstance(sampler, SAMPLERS[name])


def test_sampler_options_are_passed_and_checked() -> None:
    tpe = build_sampler(SamplerSpec(type="tpe", n_startup_trials=7, seed=1), {})
    assert tpe._n_startup_trials == 7  # noqa: SLF001
    with pytest.raises(
        SpecError, match=r"search.sampler.n_startup: not an option of the tpe sampler"
    ):
        build_sampler(SamplerSpec(type="tpe", n_startup=3), {})


def test_grid_sampler_walks_the_space() -> None:
    spec = parse_spec(
        "name: g\nobjective: {metric: accuracy}\ndata: {source: sklearn:digits}\n"
        "space: {depth: {low: 1, high: 3}, optimizer: {choices: [adam, sgd]}, dropout: "
        "{low: 0.0, high: 0.2, step: 0.1}}\nsearch: {sampler: {type: grid}}"
    )
    sampler = build_sampler(spec.search.sampler, spec.space)
    assert isinstance(sampler, optuna.samplers.GridSampler)
    assert len(sampler._all_grids) == 3 * 2 * 3  # noqa: SLF001


def test_grid_refuses_continuous_floats() -> None:
    with pytest.raises(SpecError, match="grid"):
        parse_spec(
            "name: g\nobjective: {metric: accuracy}\ndata: {source: sklearn:digits}\n"
            "space: {lr: {low: 0.001, high: 0.1}}\nsearch: {sampler: {type: grid}}"
        )


@pytest.mark.parametrize("name", sorted(PRUNERS))
def test_every_pruner_name(name: str) -> None:
    options, cls = PRUNERS[name]
    assert isinstance(build_pruner(PrunerSpec(type=name, **options)), cls)


def test_pruner_errors_are_one_line() -> None:
    with pytest.raises(SpecError, match="search.pruner.patience"):
        build_pruner(PrunerSpec(type="patient"))
    with pytest.raises(SpecError, match="search.pruner.percentile"):
        build_pruner(PrunerSpec(type="percentile"))
    with pytest.raises(SpecError, match="threshold pruner: Either lower or upper"):
        build_pruner(PrunerSpec(type="threshold"))
    with pytest.raises(SpecError, match="search.pruner.warmup: not an option of the median pruner"):
        build_pruner(PrunerSpec(type="median", warmup=3))


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("sqlite:///a.db", "sqlite"),
        ("postgresql://u:p@h/db", "postgresql"),
        ("postgresql+psycopg://h/db", "postgresql"),
        ("redis://h:6379/0", "redis"),
        ("rediss://:pw@h:6380/0", "redis"),
        ("runs/study.log", "journal_file"),
        ("/tmp/x.journal", "journal_file"),
    ],
)
def test_storage_kinds(url: str, kind: str) -> None:
    assert storage_kind(url) == kind


@pytest.mark.parametrize("url", ["mysql://h/db", "study.db", "http://h"])
def test_unknown_storage_is_a_spec_error(url: str) -> None:
    with pytest.raises(SpecError, match="is not a storage"):
        storage_kind(url)


def test_mask_url_hides_passwords_only() -> None:
    assert mask_url("postgresql://bob:hunter2@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert mask_url("redis://:hunter2@r:6379/0") == "redis://:***@r:6379/0"
    assert mask_url("sqlite:///a.db") == "sqlite:///a.db"


def test_unreachable_storage_fails_fast_without_the_password() -> None:
    with pytest.raises(StorageError) as info:
        make_storage("postgresql://bob:hunter2@127.0.0.1:1/x", cached=False)
    assert "hunter2" not in info.value.one_line()
    with pytest.raises(StorageError):
        make_storage("redis://:hunter2@127.0.0.1:1/0", cached=False)


def test_missing_folder_for_a_file_storage(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StorageError, match="does not exist"):
        make_storage(f"sqlite:///{tmp_path}/no/such/dir/a.db", cached=False)
