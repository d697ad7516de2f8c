"""The programs people already have (tests/programs/): params in their style, values read from
their own log lines or TensorBoard event files, their own checkpoint folder and resume flag.
Real processes; no services."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from automl.search.checkpoints import AtomicFileSystemStore, LineageCheckpoint
from automl.studyfile import parse_spec
from automl.studyfile.schema import TrainCommand
from automl.training.reporter import NullReporter
from automl.usercode.command import build_command
from automl.usercode.program import ProgramFailed, ProgramTrial
from automl.usercode.readers import MetricReader

PROGRAMS = Path(__file__).parents[1] / "programs"
sys.path.insert(0, str(PROGRAMS))
from common import uninterrupted  # noqa: E402

ARGPARSE = {
    "command": [sys.executable, str(PROGRAMS / "argparse_style.py"), "--save={checkpoint_dir}"],
    "rename": {"lr": "learning-rate"},
    "metric": {"pattern": r"val_acc=(?P<value>[\d.]+)"},
    "resume": ["--resume"],
}
NANOGPT = {
    "command": [
        sys.executable,
        str(PROGRAMS / "nanogpt_style.py"),
        "--out_dir={checkpoint_dir}",
        "--learning_rate={lr}",
    ],
    "params": "--{name}={value}",
    "metric": {"pattern": r"step (?P<step>\d+): .*val loss (?P<value>[\d.]+)", "final": "best"},
    "resume": ["--init_from=resume"],
}
HYDRA = {
    "command": [
        sys.executable,
        str(PROGRAMS / "hydra_style.py"),
        "optimizer.lr={lr}",
        "checkpoint={checkpoint_dir}/ckpt",
        "logdir={checkpoint_dir}/tb",
    ],  # fmt: skip
    "params": "{name}={value}",
    "metric": {"tensorboard": {"dir": "{checkpoint_dir}/tb", "tag": "val/loss"}},
    "resume": ["+resume=true"],
}


def _run(
    train: dict, params: dict, tmp_path: Path, **kwargs: object
) -> tuple[object, NullReporter, list[list[str]]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "argv.log"
    reporter = NullReporter()
    trial = ProgramTrial(TrainCommand.model_validate(train), params, 3, reporter, **kwargs)  # type: ignore[arg-type]
    os.environ["PROGRAM_ARGV_LOG"] = str(log)
    try:
        final = trial.run()
    finally:
        os.environ.pop("PROGRAM_ARGV_LOG")
    return (
        final,
        reporter,
        [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else [],
    )


def test_argparse_with_dashes_a_store_true_flag_and_a_value_holding_spaces_quotes_and_semicolons(
    tmp_path: Path,
) -> None:
    note = "a b; 'c' \"d\" $(rm -rf /)"
    final, reporter, argv = _run(
        ARGPARSE,
        {"lr": 0.5, "tied": True, "note": note, "epochs": 4},
        tmp_path,
        names=["val_acc"],
        maximize=[True],
    )
    assert argv[0][1:] == ["--learning-rate", "0.5", "--tied", "--note", note, "--epochs", "4"]
    total = 2 * uninterrupted(0.5, 4)
    assert final == pytest.approx(total / (1 + total), abs=1e-6)  # the last value read
    assert sorted(reporter.values) == [1, 2, 3, 4]  # the n-th match is step n
    _, _, argv = _run(
        ARGPARSE, {"lr": 0.5, "tied": False, "epochs": 2}, tmp_path / "b", names=["val_acc"]
    )
    assert "--tied" not in argv[0]  # false: left out


def test_key_equals_value_with_a_literal_eval_configurator_and_the_best_value(
    tmp_path: Path,
) -> None:
    final, reporter, argv = _run(
        NANOGPT,
        {"lr": 0.1, "bias": True, "dropout": 0.2},
        tmp_path,
        names=["val_loss"],
        maximize=[False],
    )
    assert argv[0][1] == "--learning_rate=0.1" and argv[0][2:] == ["--bias=True", "--dropout=0.2"]
    assert sorted(reporter.values) == [1, 2, 3, 4, 5, 6]
    total = 0.5 * uninterrupted(0.1, 6)
    assert final == pytest.approx(1 / (1 + total), abs=1e-6)  # best = lowest, the last here


@pytest.mark.slow  # the program imports torch for its SummaryWriter
def test_hydra_overrides_and_tensorboard_scalars(tmp_path: Path) -> None:
    final, reporter, argv = _run(
        HYDRA, {"lr": 0.2, "trainer.max_steps": 5}, tmp_path, names=["val_loss"], maximize=[False]
    )
    assert argv[0][0] == "optimizer.lr=0.2" and argv[0][3:] == ["trainer.max_steps=5"]
    assert sorted(reporter.values) == [1, 2, 3, 4, 5]
    assert final == pytest.approx(1 / (1 + uninterrupted(0.2, 5)), rel=1e-6)


def test_a_program_that_reads_nothing_names_the_pattern(tmp_path: Path) -> None:
    train = dict(ARGPARSE, metric={"pattern": r"val_accuracy: (?P<value>[\d.]+)"})
    with pytest.raises(ProgramFailed, match=r"no value was read from it \(pattern 'val_accuracy"):
        _run(train, {"lr": 0.5, "epochs": 2}, tmp_path)


def test_resume_is_appended_only_to_a_trial_that_restores_a_folder(tmp_path: Path) -> None:
    slot = LineageCheckpoint(AtomicFileSystemStore(str(tmp_path / "store")), "k")
    # 0.2 s a step: the program cannot run far ahead of the pause that copies its folder.
    params = {"lr": 0.1, "sleep": 0.2}
    _, first, argv = _run(
        NANOGPT,
        params,
        tmp_path / "a",
        names=["val_loss"],
        maximize=[False],
        blob=slot,
        identity="i",
    )
    assert "--init_from=resume" not in argv[0]
    # The folder was kept after each step read; a second run of the same lineage resumes from it.
    _, second, argv = _run(
        NANOGPT,
        params,
        tmp_path / "b",
        names=["val_loss"],
        maximize=[False],
        blob=slot,
        identity="i",
    )
    assert argv[0][-1] == "--init_from=resume"
    # Carried over. The copy made at step N's line may already hold step N+1's state (the program
    # runs on until it is paused), so the curve carried may end a step early; nothing differs.
    assert second.values and all(second.values[s] == first.values[s] for s in second.values)
    assert max(second.values) >= 5


def test_placeholders_fill_inside_arguments_and_are_not_appended_again() -> None:
    train = TrainCommand(
        command=["p", "opt.lr={lr}", "--run=t{trial}", "--cfg={params_json}"],
        params="--{name}={value}",
    )
    assert build_command(train, {"lr": 0.1, "n": 2}, 7, "/ck") == [
        "p", "opt.lr=0.1", "--run=t7", '--cfg={"lr": 0.1, "n": 2}', "--n=2",
    ]  # fmt: skip
    none = TrainCommand(command=["p"], params="none", resume=["--from={checkpoint_dir}"])
    assert build_command(none, {"lr": 0.1}, 1, "/ck", resuming=True) == ["p", "--from=/ck"]


def test_several_objectives_from_their_own_patterns_report_a_step_once_both_are_read() -> None:
    spec = parse_spec("""
name: s
objective: [{metric: acc, direction: maximize}, {metric: ms, direction: minimize}]
train:
  command: [p]
  metric:
    acc: {pattern: 'step (?P<step>\\d+) acc (?P<value>[\\d.]+)'}
    ms: {pattern: 'step (?P<step>\\d+) latency (?P<value>[\\d.]+) ms', final: best}
""")
    assert isinstance(spec.train, TrainCommand)
    reader = MetricReader(spec.train, ["acc", "ms"], [True, False], {})
    assert reader.feed("step 1 acc 0.5") == []
    assert reader.feed("step 1 latency 3.0 ms") == [(1, {"acc": 0.5, "ms": 3.0})]
    assert reader.feed("step 2 latency 2.0 ms") == [] and reader.feed("step 2 acc 0.7") == [
        (2, {"acc": 0.7, "ms": 2.0})
    ]
    assert reader.feed("step 1 acc 0.9") == []  # not after the last step reported
    assert reader.final() == {"acc": 0.7, "ms": 2.0}


def test_a_resumed_reader_skips_the_steps_carried_over() -> None:
    train = TrainCommand.model_validate(
        {"command": ["p"], "metric": {"pattern": r"loss (?P<value>[\d.]+)"}}
    )
    reader = MetricReader(train, ["loss"], [False], {}, after_step=3)
    assert reader.feed("loss 0.5") == [(4, 0.5)]  # the n-th match after a resume at 3


@pytest.mark.parametrize(
    ("train", "path"),
    [
        ("{command: [p, '--x={lrr}']}", "train.command"),
        ("{command: [p], params: '-{name} {value}'}", "train.params"),
        ("{command: [p], metric: {pattern: 'v (\\\\d+)'}}", "train.metric.pattern"),
        ("{command: [p], metric: {pattern: 'v ([x'}}", "train.metric.pattern"),
        ("{command: [p], rename: {nope: x}}", "train.rename.nope"),
    ],
)
def test_bad_program_settings_name_the_field(train: str, path: str) -> None:
    from automl.errors import SpecError

    with pytest.raises(SpecError) as err:
        parse_spec(
            f"name: s\nobjective: {{metric: v, direction: minimize}}\nspace: {{lr: "
            f"{{low: 0.1, high: 1}}}}\ntrain: {train}\n"
        )
    assert err.value.path == path, err.value.one_line()
