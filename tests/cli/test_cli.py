"""The command line as users call it: exit codes, what it writes (or does not), Ctrl-C, resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from automl.cli import main
from automl.search import COUNTED_STATES, load_study, make_storage
from automl.trial_attrs import FailKind
from tests.conftest import tiny_yaml

AUTOML = [sys.executable, "-m", "automl"]


def write_study(tmp_path: Path, name: str, **overrides: object) -> tuple[Path, str]:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    path = tmp_path / "study.yaml"
    path.write_text(tiny_yaml(name, url, **overrides))
    return path, url


COMMANDS = ["run", "worker", "validate", "status", "report", "export", "predict", "dashboard"]


def _help(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as info:
        main([*args, "--help"])
    assert info.value.code == 0, f"automl {' '.join(args)} --help exited {info.value.code}"
    return capsys.readouterr().out


def test_help_lists_every_command_with_what_it_does(capsys: pytest.CaptureFixture[str]) -> None:
    out = _help(capsys)
    # argparse lists each command on its own line, indented, then its help: read that list,
    # not substrings ("run" is in "runtime").
    listed = dict(re.findall(r"^ {4}(\w+) {2,}(\S.*)$", out, flags=re.MULTILINE))
    assert sorted(listed) == sorted(COMMANDS), out
    assert all(len(what) > 10 for what in listed.values()), listed


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_its_own_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    out = _help(capsys, command)
    assert out.startswith(f"usage: automl {command} "), out[:200]
    assert "-h, --help" in out


# automl in a process of its own (tests/studyfile/test_corpus.py checks the same in-process)
@pytest.mark.slow
def test_malformed_study_exits_2_with_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(tiny_yaml("bad", "sqlite:///made.db").replace("n_trials: 4", "n_trials: lots"))
    result = subprocess.run(
        [*AUTOML, "run", str(bad)], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "search.n_trials" in lines[0] and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]  # no storage created


def test_bad_data_file_exits_2_before_writing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    text = tiny_yaml("d", url).replace(
        "source: sklearn:make_classification\n  options: {n_samples: 200, n_features: "
        "10, n_informative: 6, random_state: 0}",
        "source: csv:missing.csv\n  target: y",
    )
    path = tmp_path / "s.yaml"
    path.write_text(text)
    assert main(["run", str(path)]) == 2
    assert not (tmp_path / "study.db").exists()


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    path, _ = write_study(tmp_path, "u")
    assert main(["run", str(path), "--timeout", "soon"]) == 2
    assert main(["run", str(path), "--parallelism", "0"]) == 2
    assert main(["status", "--study", "x"]) == 2
    with pytest.raises(SystemExit) as info:
        main(["run"])
    assert info.value.code == 2


def test_validate_prints_the_space_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = write_study(tmp_path, "v")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "momentum" in out and "only when optimizer in ['sgd']" in out
    assert not (tmp_path / "study.db").exists()


@pytest.mark.slow  # worker processes, then Optuna's CLI in a process of its own
def test_run_then_status_then_optuna_cli_reads_the_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, url = write_study(tmp_path, "cli-run", n_trials=3, parallelism=2)
    assert main(["run", str(path)]) == 0
    out = capsys.readouterr().out
    assert "best accuracy" in out
    assert main(["status", str(path)]) == 0
    assert "best accuracy" in capsys.readouterr().out  # as run said it
    assert main(["status", str(path), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert sum(status["counts"].get(k, 0) for k in ("complete", "pruned")) == 3
    # Optuna's own CLI reads what we wrote, without any help from us.
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "optuna"),
            "trials",
            "--study-name",
            "cli-run",
            "--storage",
            url,
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 3
    assert all(row["state"] in ("COMPLETE", "PRUNED") for row in rows)
    assert {"lr", "width", "optimizer"} <= set(rows[0]["params"])


@pytest.mark.slow  # a real run on a worker process
def test_flags_override_the_file(tmp_path: Path) -> None:
    path, _ = write_study(tmp_path, "flags", n_trials=5)
    other = tmp_path / "other.journal"
    assert (
        main(["run", str(path), "--n-trials", "2", "--storage", str(other), "--parallelism", "1"])
        == 0
    )
    study, spec = load_study(str(other), "flags")
    assert len(study.trials) == 2 and spec.search.n_trials == 2
    assert not (tmp_path / "study.db").exists()


@pytest.mark.slow  # a real run on a worker process
def test_storage_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = write_study(tmp_path, "envstore", n_trials=1)
    journal = tmp_path / "env.journal"
    monkeypatch.setenv("AUTOML_STORAGE", str(journal))
    assert main(["run", str(path)]) == 0
    assert journal.exists() and not (tmp_path / "study.db").exists()


@pytest.mark.slow  # a run interrupted mid-training, then resumed
def test_ctrl_c_fails_running_trials_as_interrupted_then_resume_completes(tmp_path: Path) -> None:
    # Epochs of the tiny model take milliseconds: 2,000 keep both trials training well past the
    # moment the test sees one of them report (200 could end first on a loaded machine).
    path, url = write_study(
        tmp_path, "ctrlc", n_trials=3, parallelism=2, epochs=2000, pruner="none"
    )
    proc = subprocess.Popen(
        [*AUTOML, "run", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_for_running_trial(url, "ctrlc", proc)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    study, _ = load_study(url, "ctrlc")
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    # Each local worker checkpointed its trial after the current epoch and stopped: preempted.
    assert failed and all(t.user_attrs["fail_reason"] == "preempted" for t in failed)
    assert all(t.user_attrs["checkpoint_epoch"] >= 1 for t in failed)
    assert len(list((tmp_path / "automl-checkpoints").iterdir())) == len(failed)
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    # Resume with fewer epochs so that it ends quickly: the interrupted params run again, from
    # scratch, since the study file's trainer changed (a checkpoint never resumes other settings).
    path.write_text(path.read_text().replace("epochs: 2000", "epochs: 2"))
    assert main(["run", str(path)]) == 0
    study, _ = load_study(url, "ctrlc")
    assert len([t for t in study.trials if t.state in COUNTED_STATES]) == 3
    retried = {t.user_attrs.get("retry_of") for t in study.trials} - {None}
    assert retried == {t.number for t in failed}
    assert all(t.user_attrs.get("attempt", 0) == 0 for t in study.trials)  # Ctrl-C uses up no retry
    assert not [t for t in study.trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert all(
        t.user_attrs["resumed_from_epoch"] == 0 for t in study.trials if t.state in COUNTED_STATES
    )
    assert not list((tmp_path / "automl-checkpoints").iterdir())  # gone once their trials ended


def _wait_for_running_trial(url: str, name: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"automl run ended early: {proc.communicate()}")
        try:
            storage = make_storage(url, cached=False)
            study_id = storage.get_study_id_from_name(name)
            running = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
            if any(t.last_step for t in running):
                return
        except Exception:  # noqa: BLE001 - the study may not exist yet
            pass
        time.sleep(0.1)
    raise AssertionError("no trial started running within 90 s")


@pytest.mark.slow  # automl in a process of its own, waiting on a refused connection
def test_unreachable_storage_exits_1_quickly_without_the_password(tmp_path: Path) -> None:
    path, _ = write_study(tmp_path, "down")
    started = time.monotonic()
    result = subprocess.run(
        [*AUTOML, "run", str(path), "--storage", "postgresql://bob:hunter2@127.0.0.1:1/x"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "cannot open storage postgresql://bob:***@127.0.0.1:1/x" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout and "Traceback" not in result.stderr
    assert time.monotonic() - started < 60


@pytest.mark.parametrize(
    "reason", ["cannot read [/data/x.csv]", "[link=https://evil.example]click[/link]", "a [bold]b"]
)
def test_status_shows_text_from_trials_as_text_not_markup(
    tmp_path: Path, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from automl.search import open_study
    from automl.search.study import fail_trial
    from automl.studyfile import parse_spec

    url = str(tmp_path / "s.journal")
    spec = parse_spec(f"""
name: markup
storage: {url}
objective: {{metric: score, direction: maximize}}
train: python:tests.own_code:fit
space: {{optimizer: {{choices: ['[adamw]', sgd]}}}}
""")
    study = open_study(spec, url)
    study.enqueue_trial({"optimizer": "[adamw]"})
    running = study.ask()
    running.suggest_categorical("optimizer", ["[adamw]", "sgd"])
    failed = study.ask()
    fail_trial(study, study.trials[failed.number], reason, FailKind.ERROR)
    capsys.readouterr()
    assert main(["status", "--storage", url, "--study", "markup"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"failed 1x: {reason}" in out  # shown as written: no crash, no link, no style
    assert "optimizer=[adamw]" in out


def test_validate_takes_the_flags_run_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = write_study(tmp_path, "flags-v", n_trials=5)
    journal = str(tmp_path / "other.journal")
    args = [
        "--n-trials",
        "7",
        "--parallelism",
        "3",
        "--timeout",
        "2m",
        "--storage",
        journal,
        "--json",
    ]
    assert main(["validate", str(path), *args]) == 0
    study = json.loads(capsys.readouterr().out)["study"]
    assert study["search"]["n_trials"] == 7 and study["search"]["timeout"] == 120
    assert study["execution"]["parallelism"] == 3 and study["storage"] == journal
    assert main(["validate", str(path), "--timeout", "soon"]) == 2
    assert "--timeout" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name])  # still writes nothing
