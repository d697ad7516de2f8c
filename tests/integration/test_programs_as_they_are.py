"""The programs people already have (tests/programs/), tuned without changing a line of them,
through the real fleet: argparse with dashes and a store-true flag (values from log lines, the
n-th match is step n), nanoGPT's ``--key=value`` configurator (log lines with their step), and a
Hydra-style program (``key=value``, values from TensorBoard event files). Each one pruned by the
pruner on what it printed or wrote, and each one killed with SIGKILL mid-trial and resumed
through its own resume flag from its own checkpoint folder, on the local backend and on Celery.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from automl.search import make_storage
from automl.studyfile import StudySpec, parse_spec
from tests.integration.conftest import WorkerPool, finish, run_in_thread, when_checkpointed

PROGRAMS = Path(__file__).parents[1] / "programs"
PY = sys.executable
STEPS = 8
STYLES: dict[str, dict[str, Any]] = {
    "argparse": {
        "train": f"""
  command: ['{PY}', '{PROGRAMS / "argparse_style.py"}', '--save={{checkpoint_dir}}', \
'--epochs={STEPS}']
  rename: {{lr: learning-rate}}
  metric: {{pattern: 'val_acc=(?P<value>[\\d.]+)'}}
  resume: [--resume]""",
        "objective": "{metric: val_acc, direction: maximize}",
        "pruner": "{type: threshold, lower: 0.3}",
        "value": lambda lr, total: total / (1 + total),
        "resume": "--resume",
    },
    "nanogpt": {
        "train": f"""
  command: ['{PY}', '{PROGRAMS / "nanogpt_style.py"}', '--out_dir={{checkpoint_dir}}', \
'--max_iters={STEPS}']
  params: '--{{name}}={{value}}'
  rename: {{lr: learning_rate}}
  metric: {{pattern: 'step (?P<step>\\d+): .*val loss (?P<value>[\\d.]+)', final: best}}
  resume: [--init_from=resume]""",
        "objective": "{metric: val_loss, direction: minimize}",
        "pruner": "{type: threshold, upper: 0.9}",
        "value": lambda lr, total: 1 / (1 + total),
        "resume": "--init_from=resume",
    },
    "hydra": {
        "train": f"""
  command: ['{PY}', '{PROGRAMS / "hydra_style.py"}', 'optimizer.lr={{lr}}', \
'checkpoint={{checkpoint_dir}}/ckpt',
            'logdir={{checkpoint_dir}}/tb', 'trainer.max_steps={STEPS}']
  params: '{{name}}={{value}}'
  metric: {{tensorboard: {{dir: '{{checkpoint_dir}}/tb', tag: val/loss}}}}
  resume: [+resume=true]""",
        "objective": "{metric: val_loss, direction: minimize}",
        "pruner": "{type: threshold, upper: 0.9}",
        "value": lambda lr, total: 1 / (1 + total),
        "resume": "+resume=true",
    },
}


def spec_for(
    style: str, name: str, storage: str, enqueue: str, n_trials: int, execution: str = ""
) -> StudySpec:
    s = STYLES[style]
    return parse_spec(f"""
name: {name}
storage: {storage}
objective: {s["objective"]}
train: {s["train"]}
  timeout: 2m
space:
  lr: {{low: 0.001, high: 1.0, log: true}}
  sleep: {{low: 0.0, high: 1.0}}
search:
  sampler: {{type: random, seed: 0}}
  pruner: {s["pruner"]}
  n_trials: {n_trials}
  enqueue: {enqueue}
execution: {{parallelism: 1, trial_retries: 1{execution}}}
""")


def _study(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=make_storage(url, cached=False))


def _expected(style: str, lr: float) -> float:
    total = sum(lr * s for s in range(1, STEPS + 1))
    return float(STYLES[style]["value"](lr, total))


def _run_outcomes(style: str, url: str, name: str, execution: str = "") -> None:
    # The bad trial takes 0.3 s a step: event files (hydra) are read every 0.5 s while the
    # program runs, and one that has exited has nothing left to prune.
    spec = spec_for(
        style, name, url, "[{lr: 1.0, sleep: 0.0}, {lr: 0.001, sleep: 0.3}]", 2, execution
    )
    thread, errors = run_in_thread(spec, url)
    finish(thread, errors, 240)
    good, bad = _study(url, name).trials
    assert good.state == TrialState.COMPLETE, good.user_attrs
    assert good.value == pytest.approx(_expected(style, 1.0), rel=1e-5)
    assert sorted(good.intermediate_values) == list(range(1, STEPS + 1))
    # at its first value
    assert bad.state == TrialState.PRUNED and list(bad.intermediate_values) == [1]


def _run_killed(style: str, url: str, name: str, argv_log: Path, execution: str = "") -> None:
    spec = spec_for(style, name, url, "[{lr: 0.5, sleep: 0.3}]", 1, execution)
    killer = when_checkpointed(
        url, name, 3, lambda trial: os.kill(trial.user_attrs["pid"], signal.SIGKILL)
    )
    try:
        thread, errors = run_in_thread(spec, url)
        finish(thread, errors, 240)
    finally:
        killer.join()
    first, retry = _study(url, name).trials[:2]
    assert first.state == TrialState.FAIL and first.user_attrs["fail_reason"].startswith(
        "worker lost"
    )
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["retry_of"] == first.number
    assert retry.user_attrs["resumed_from_epoch"] == first.user_attrs["checkpoint_epoch"] >= 3
    assert retry.value == pytest.approx(_expected(style, 0.5), rel=1e-5)  # its state came back
    assert max(retry.intermediate_values) == STEPS
    runs = [json.loads(line) for line in argv_log.read_text().splitlines()]
    resume = STYLES[style]["resume"]
    # the retry went on from its folder
    assert [resume in argv for argv in runs[-2:]] == [
        False,
        True,
    ]


@pytest.mark.slow
@pytest.mark.parametrize("style", STYLES)
def test_each_style_on_the_local_backend(
    tmp_path: Path, style: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv_log = tmp_path / "argv.log"
    monkeypatch.setenv("PROGRAM_ARGV_LOG", str(argv_log))
    url = str(tmp_path / "study.journal")
    _run_outcomes(style, url, "prog")
    _run_killed(style, url, "prog-k", argv_log)


@pytest.mark.integration
@pytest.mark.parametrize("style", STYLES)
def test_each_style_on_celery_workers(
    tmp_path: Path, style: str, broker_url: str, queue: str, study_name: str, workers: WorkerPool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    argv_log = tmp_path / "argv.log"
    monkeypatch.setenv("PROGRAM_ARGV_LOG", str(argv_log))  # the workers' programs inherit it
    url = str(tmp_path / "study.journal")
    execution = (
        f", backend: celery, queue: {queue}, broker: '{broker_url}', checkpoints: "
        f"'{tmp_path / 'ckpt'}'"
    )
    workers.start(url, broker_url, queue, concurrency=1)
    _run_outcomes(style, url, study_name, execution)
    _run_killed(style, url, f"{study_name}-k", argv_log, execution)
