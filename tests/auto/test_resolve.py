"""AutoML defaults: a minimal study file gets a model, space, budget and parallelism that fit."""

from __future__ import annotations

import json

import pytest

from automl.auto import DataFacts, complete_spec
from automl.auto.resolve import SMALL_REPEATS, TIME_BOUND_TRIALS
from automl.cli import main
from automl.cli.common import apply_overrides
from automl.studyfile import Task, parse_spec
from automl.studyfile.space import FixedParam

MINIMAL = (
    "name: m\nobjective: {metric: accuracy}\ndata: {source: sklearn:digits}\nsearch: "
    "{timeout: 3m}\n"
)
IMAGES = DataFacts(1437, (1, 8, 8), Task.CLASSIFICATION)
TABLE = DataFacts(455, (30,), Task.CLASSIFICATION)


def test_image_data_gets_a_cnn_and_its_space() -> None:
    spec, choices = complete_spec(parse_spec(MINIMAL), IMAGES, cpu_count=4)
    assert spec.model.family == "cnn"
    assert {"lr", "channels", "batch_norm", "label_smoothing"} <= set(spec.space)
    assert spec.search.sampler.type == "tpe" and spec.search.pruner.type == "hyperband"
    assert spec.search.n_trials == TIME_BOUND_TRIALS  # the timeout decides
    assert spec.execution.parallelism == 4
    assert spec.trainer.early_stopping is not None
    assert len(spec.search.enqueue) == 2
    assert {c.field for c in choices} >= {
        "model.family",
        "space",
        "trainer.epochs",
        "search.pruner",
        "execution.parallelism",
    }
    assert all(c.why for c in choices)


def test_flat_data_gets_an_mlp_without_batch_norm() -> None:
    spec, _ = complete_spec(parse_spec(MINIMAL), TABLE, cpu_count=2)
    assert spec.model.family == "mlp"
    assert "batch_norm" not in spec.space  # keeps the batched fold computation
    assert spec.execution.parallelism == 2


def test_a_space_that_names_mlp_parameters_gets_an_mlp_even_on_images() -> None:
    spec, choices = complete_spec(
        parse_spec(MINIMAL + "space: {width: {low: 32, high: 64}}\n"), IMAGES, cpu_count=2
    )
    assert spec.model.family == "mlp"
    assert {c.field: c.why for c in choices}[
        "model.family"
    ] == "the space names width, an mlp parameter"


def test_regression_has_no_label_smoothing() -> None:
    text = MINIMAL.replace("accuracy", "rmse").replace("digits", "diabetes")
    spec, _ = complete_spec(parse_spec(text), DataFacts(353, (10,), Task.REGRESSION), cpu_count=2)
    assert "label_smoothing" not in spec.space


def test_whatever_the_file_says_is_kept() -> None:
    text = MINIMAL + (
        "model: {family: mlp}\ntrainer: {epochs: 7}\nspace: {lr: 0.01}\nexecution: "
        "{parallelism: 1}\n"
    )
    spec, choices = complete_spec(parse_spec(text), IMAGES, cpu_count=8)
    assert (
        spec.model.family == "mlp" and spec.trainer.epochs == 7 and spec.execution.parallelism == 1
    )
    assert spec.trainer.early_stopping is None  # the trainer section is the user's
    assert isinstance(spec.space["lr"], FixedParam) and list(spec.space) == ["lr"]
    assert not spec.search.enqueue  # start points only come with the default space
    assert "model.family" not in {c.field for c in choices}


def test_flags_count_as_given_and_leave_the_rest_to_the_defaults() -> None:
    spec = apply_overrides(parse_spec(MINIMAL), {"search.n_trials": 12, "storage": "x.journal"})
    resolved, _ = complete_spec(spec, IMAGES, cpu_count=2)
    assert resolved.search.n_trials == 12  # the flag, not the time-bound default
    assert resolved.model.family == "cnn"  # still chosen


@pytest.mark.slow  # automl validate reads the digits data twice, to resolve and to check
def test_validate_says_what_was_chosen_and_why(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "m.yaml"
    path.write_text(MINIMAL)
    assert main(["validate", str(path)]) == 0
    assert "chosen for you" in capsys.readouterr().out
    assert main(["validate", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    why = {c["field"]: c["why"] for c in report["chosen"]}
    assert why["model.family"] == "the inputs are images (1x8x8)"
    assert report["study"]["model"]["family"] == "cnn"


def test_small_data_repeats_its_k_fold_cv_unless_the_file_says_otherwise() -> None:
    spec, choices = complete_spec(parse_spec(MINIMAL), TABLE, cpu_count=2)  # 455 rows
    assert spec.data.cv.repeats == SMALL_REPEATS and spec.data.cv.folds == 5
    assert "training rows" in {c.field: c.why for c in choices}["data.cv.repeats"]
    for cv in ("{repeats: 1}", "{folds: 5}"):  # a file that sets its CV scheme keeps it
        said = MINIMAL.replace("sklearn:digits}", f"sklearn:digits, cv: {cv}}}")
        spec, choices = complete_spec(parse_spec(said), TABLE, cpu_count=2)
        assert spec.data.cv.repeats == 1 and "data.cv.repeats" not in {c.field for c in choices}
    seeded = MINIMAL.replace("sklearn:digits}", "sklearn:digits, cv: {seed: 3}}")
    spec, _ = complete_spec(parse_spec(seeded), TABLE, cpu_count=2)
    # a seed alone is no scheme
    assert (spec.data.cv.repeats, spec.data.cv.seed) == (
        SMALL_REPEATS,
        3,
    )
    spec, choices = complete_spec(parse_spec(MINIMAL), IMAGES, cpu_count=2)  # 1437 rows
    assert spec.data.cv.repeats == 1 and "data.cv.repeats" not in {c.field for c in choices}
