"""The study-file loader: valid files become frozen objects; bad ones give one SpecError line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from automl.errors import SpecError
from automl.studyfile import Direction, StudySpec, as_mapping, load_spec, parse_spec
from automl.studyfile.space import CategoricalParam, FixedParam, FloatParam, IntParam

STUDIES = sorted((Path(__file__).parents[2] / "studies").glob("*.yaml"))

BASE = """
name: s
objective: {metric: accuracy}
data: {source: sklearn:digits}
"""


def spec_with(extra: str) -> StudySpec:
    return parse_spec(BASE + extra)


@pytest.mark.parametrize("path", STUDIES, ids=[p.name for p in STUDIES])
def test_every_example_study_file_validates(path: Path) -> None:
    spec = load_spec(path)
    assert spec.name
    assert StudySpec.model_validate(as_mapping(spec)) == spec


def test_examples_exist() -> None:
    names = {p.name for p in STUDIES}
    assert {
        "quickstart.yaml",
        "digits_mlp.yaml",
        "digits_cnn.yaml",
        "breast_cancer_mlp.yaml",
        "diabetes_regression.yaml",
    } <= names


def test_defaults_and_inferred_direction() -> None:
    spec = spec_with("")
    assert spec.direction == Direction.MAXIMIZE
    assert spec.storage == "sqlite:///automl.db"
    assert spec.data.task is not None and spec.data.task.value == "classification"
    assert parse_spec(BASE.replace("accuracy", "log_loss")).direction == Direction.MINIMIZE


def test_spec_is_frozen() -> None:
    spec = spec_with("")
    with pytest.raises(ValidationError):
        spec.name = "other"  # type: ignore[misc]


def test_space_entry_kinds() -> None:
    spec = spec_with(
        """
space:
  lr: {low: 1.0e-4, high: 0.1, log: true}
  dropout: {low: 0.0, high: 0.5, step: 0.1}
  depth: {low: 1, high: 4}
  width: {low: 16, high: 256, log: true}
  forced: {low: 1, high: 3, type: float}
  optimizer: {choices: [adamw, sgd]}
  activation: relu
  batch_size: 64
""".replace("forced", "l1")
    )
    s = spec.space
    assert isinstance(s["lr"], FloatParam) and s["lr"].log
    assert isinstance(s["dropout"], FloatParam) and s["dropout"].step == 0.1
    assert isinstance(s["depth"], IntParam) and not isinstance(s["width"], FloatParam)
    assert isinstance(s["l1"], FloatParam)
    assert isinstance(s["optimizer"], CategoricalParam)
    assert isinstance(s["activation"], FixedParam) and s["activation"].value == "relu"
    assert isinstance(s["batch_size"], FixedParam) and s["batch_size"].value == 64


def test_timeout_units() -> None:
    assert spec_with("search: {timeout: 30m}").search.timeout == 1800
    assert spec_with("search: {timeout: 1h30m}").search.timeout == 5400
    assert spec_with("search: {timeout: 45}").search.timeout == 45


def test_relative_data_paths_are_anchored_at_the_study_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    file = tmp_path / "sub" / "s.yaml"
    file.write_text(
        BASE.replace("sklearn:digits", "csv:data/x.csv").replace("{source", "{target: y, source")
    )
    spec = load_spec(file)
    assert spec.data.source == f"csv:{tmp_path / 'sub' / 'data' / 'x.csv'}"


BAD = [
    ("objective: {metric: accuracy}\ndata: {source: sklearn:digits}", "name: is required"),
    (BASE + "colour: red", "colour: unknown key"),
    (BASE + "search: {n_trails: 3}", "search.n_trails: unknown key (did you mean 'n_trials'?)"),
    (BASE + "space: {lr: {low: 1, high: 0.1}}", "space.lr: low must be < high"),
    (BASE + "space: {lr: {low: 0.0, high: 0.1, log: true}}", "space.lr: a log range needs low > 0"),
    (BASE + "space: {optimizer: {choices: []}}", "space.optimizer.choices:"),
    (BASE + "space: {optimizer: {choices: [adam, adam]}}", "listed twice"),
    (
        BASE + "space: {optimizer: {choices: [adam, lion]}}",
        "space.optimizer: 'lion' is not a known optimizer",
    ),
    (
        BASE + "space: {learning_rate: 0.1}",
        "space.learning_rate: unknown parameter for the built-in trainer",
    ),
    (BASE + "space: {lrr: 0.1}", "did you mean 'lr'?"),
    (
        BASE + "space: {momentum: {low: 0.5, high: 0.9, when: {optimizer: sgd}}}",
        "space.momentum.when.optimizer: parameter 'optimizer' is not defined",
    ),
    (
        BASE
        + (
            "space: {momentum: {low: 0.5, high: 0.9, when: {optimizer: sgd}}, optimizer: "
            "{choices: [sgd]}}"
        ),
        "must be defined above 'momentum'",
    ),
    (
        BASE
        + (
            "space: {optimizer: {choices: [adam]}, momentum: {low: 0.5, high: 0.9, when: "
            "{optimizer: sgd}}}"
        ),
        "'optimizer' can never be 'sgd'",
    ),
    (BASE + "search: {timeout: soon}", "search.timeout: 'soon' is not a duration"),
    (BASE + "search: {n_trials: -1}", "search.n_trials:"),
    (BASE + "search: {sampler: {type: bayes}}", "search.sampler.type: 'bayes' is not allowed"),
    (
        BASE + "search: {enqueue: [{lr: 0.1}]}",
        "search.enqueue.0.lr: is not a parameter of the space",
    ),
    (
        BASE + "space: {lr: {low: 0.001, high: 0.01}}\nsearch: {enqueue: [{lr: 0.1}]}",
        "search.enqueue.0.lr: 0.1 is outside the space",
    ),
    (BASE + "data: {source: sklearn:mnist}", "data"),
    (BASE.replace("accuracy", "rmse"), "rmse is for regression"),
    (
        BASE.replace("{metric: accuracy}", "{metric: accuracy, direction: minimize}"),
        "direction must be maximize",
    ),
    (BASE + "execution: {parallelism: 0}", "execution.parallelism:"),
    (BASE + "trainer: {device: tpu}", "trainer.device: unknown device 'tpu'"),
    ("name: a\nname: b\n", "duplicate key 'name'"),
    ("name: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
    ("- a list\n", "must be a mapping"),
    ("name: [unclosed\n", "not valid YAML (line"),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[e for _, e in BAD])
def test_bad_files_give_one_line_naming_the_field(text: str, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    line = info.value.one_line()
    assert expected in line
    assert "\n" not in line


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")


def test_user_builder_allows_any_parameter_name() -> None:
    spec = spec_with(
        "model: {family: 'python:mypkg.models:build'}\nspace: {hidden: {low: 1, high: 3}}"
    )
    assert "hidden" in spec.space


@pytest.mark.parametrize(
    ("written", "epochs", "seconds"),
    [
        ("60s", None, 60.0),
        ("5m", None, 300.0),
        (1, 1, None),
        ("3", 3, None),
        ("none", None, None),
        ("1h30m", None, 5400.0),
    ],
)
def test_checkpoint_every_is_a_duration_a_number_of_epochs_or_none(
    written: object, epochs: int | None, seconds: float | None
) -> None:
    trainer = spec_with(f"trainer: {{checkpoint_every: {written}}}").trainer
    assert (trainer.checkpoint_epochs, trainer.checkpoint_seconds) == (epochs, seconds)


def test_checkpoints_default_to_every_minute() -> None:
    spec = spec_with("")
    assert spec.trainer.checkpoint_every == "60s" and spec.execution.checkpoints is None


@pytest.mark.parametrize("written", ["0", "0s", "-5", "soon", "true", "1.5"])
def test_a_bad_checkpoint_interval_names_the_field(written: str) -> None:
    with pytest.raises(SpecError) as info:
        spec_with(f"trainer: {{checkpoint_every: {written}}}")
    assert "trainer.checkpoint_every" in info.value.one_line()


OWN = """
name: s
objective: {metric: val_loss, direction: minimize}
train: python:pkg.mod:fit
space: {lr: {low: 0.001, high: 0.1, log: true}, anything: {choices: [a, b]}}
"""


def test_a_study_of_your_own_code_takes_any_metric_and_parameter_names() -> None:
    spec = parse_spec(OWN)
    assert spec.own_code and spec.objective.name == "val_loss" and spec.data is None
    command = parse_spec(
        OWN.replace("train: python:pkg.mod:fit", "train: {command: [python, t.py], timeout: 2h}")
    )
    assert command.train.command == ["python", "t.py"] and command.train.timeout == 7200  # type: ignore[union-attr]
    assert parse_spec(as_mapping(spec) and OWN) == spec


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("direction: minimize", ""), "objective.direction: say maximize or minimize"),
        (
            ("train: python:pkg.mod:fit", "train: pkg.mod:fit"),
            "write python:package.module:function",
        ),
        (
            (
                "train: python:pkg.mod:fit",
                "train: python:pkg.mod:fit\ndata: {source: sklearn:iris}",
            ),
            "leave data out",
        ),
        (("train: python:pkg.mod:fit", "train: {command: []}"), "train.command"),
        (("train: python:pkg.mod:fit", "train: {command: [x], timeout: 0}"), "train.timeout"),
        (("train: python:pkg.mod:fit\n", ""), "data: say what to train on"),
        (
            ("train: python:pkg.mod:fit", "data: {source: sklearn:iris}"),
            "is not a metric of the built-in trainer",
        ),
    ],
)
def test_bad_own_code_sections_name_the_field(change: tuple[str, str], expected: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(OWN.replace(*change))
    assert expected in info.value.one_line()


@pytest.mark.parametrize(
    ("written", "path"),
    [("objective: {metric: 3}", "objective.metric: "), ("train: 5", "train: write python:")],
)
def test_union_members_never_show_in_an_error_path(written: str, path: str) -> None:
    text = (
        "name: s\n"
        + written
        + (
            "\ndata: {source: sklearn:iris}\n"
            if "objective" in written
            else "\nobjective: {metric: x, direction: maximize}\n"
        )
    )
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    line = info.value.one_line()
    assert line.startswith(path) and "enum[" not in line and "TrainCommand" not in line


def test_a_key_the_user_wrote_stays_in_the_error_path_whatever_its_case() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(OWN.replace("anything: {choices: [a, b]}", "LR: {low: 1, high: x}"))
    assert info.value.one_line().startswith("space.LR.high:")
