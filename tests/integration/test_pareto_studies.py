"""Studies with two objectives through the real fleet: the built-in trainer (accuracy against
params) and your own code (tests/pareto_code.py: a function and a program), on the local
backend and on Celery workers. They prune on both objectives (successive halving by Pareto
rank, a constraint ranking its breakers behind), finish at their exact budget, hand Optuna a
front that ``best_trials`` returns, and a worker killed mid-trial resumes with every vector.
"""

from __future__ import annotations

import math
import os
import signal
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from automl.search import make_storage
from automl.search.outcomes import front_of
from automl.studyfile import StudySpec, parse_spec
from tests.integration.conftest import WorkerPool, finish, run_in_thread, when_checkpointed

FORMS = {
    "function": "python:tests.pareto_code:fit",
    "program": f"{{command: ['{sys.executable}', tests/pareto_code.py], timeout: 2m}}",
}
# Run in this order, one at a time: a trial that dominates all, one it dominates (pruned at the
# first rung), one that beats it on score but breaks `cost <= 8` (pruned: it ranks behind every
# trial that keeps the bound), one on the front with the first (kept at every rung).
POINTS = (
    "[{quality: 1.0, cost: 1}, {quality: 0.2, cost: 5}, {quality: 2.0, cost: 9}, {quality: "
    "1.5, cost: 2}]"
)


def own_spec(
    name: str,
    storage: str,
    train: str,
    enqueue: str,
    n_trials: int,
    sleep: float = 0.0,
    execution: str = "",
) -> StudySpec:
    return parse_spec(f"""
name: {name}
storage: {storage}
objective: [{{metric: score, direction: maximize}}, {{metric: cost, direction: minimize}}]
constraints: {{cost: {{max: 8}}}}
train: {train}
space:
  quality: {{low: 0.1, high: 2.0}}
  cost: {{low: 1, high: 10}}
  sleep: {sleep}
search:
  sampler: {{type: random, seed: 0}}
  pruner: {{type: successive_halving, min_resource: 1, reduction_factor: 2}}
  n_trials: {n_trials}
  enqueue: {enqueue}
execution: {{parallelism: 1, trial_retries: 1{execution}}}
""")


def _study(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=make_storage(url, cached=False))


def _run(spec: StudySpec, url: str, timeout_s: float = 240) -> None:
    thread, errors = run_in_thread(spec, url)
    finish(thread, errors, timeout_s)


def _check_own_front(study: optuna.Study) -> None:
    trials = study.trials
    assert [t.state for t in trials] == [
        TrialState.COMPLETE,
        TrialState.PRUNED,
        TrialState.PRUNED,
        TrialState.COMPLETE,
    ]
    assert study.metric_names == ["score", "cost"]
    assert trials[0].values == [36.0, 1.0] and trials[3].values == [1.5 * 36, 2.0]
    assert sorted(trials[0].user_attrs["intermediate_values"], key=int) == [
        str(s) for s in range(1, 9)
    ]
    assert trials[0].user_attrs["intermediate_values"]["8"] == {"score": 36.0, "cost": 1.0}
    for pruned in trials[1:3]:  # stopped at the first rung, their last vector kept
        assert list(pruned.user_attrs["intermediate_values"]) == ["1"]
        assert pruned.user_attrs["metrics"] == pruned.user_attrs["intermediate_values"]["1"]
    assert trials[2].constraints == {"cost.max": 1.0} and trials[0].constraints == {
        "cost.max": -7.0
    }
    assert [t.number for t in study.best_trials] == [0, 3]


def _check_resumed(study: optuna.Study, quality: float) -> None:
    first, retry = study.trials[:2]
    assert first.state == TrialState.FAIL and first.user_attrs["fail_reason"].startswith(
        "worker lost"
    )
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["retry_of"] == first.number
    assert retry.user_attrs["resumed_from_epoch"] == first.user_attrs["checkpoint_epoch"] >= 3
    steps = retry.user_attrs["intermediate_values"]
    assert sorted(map(int, steps)) == list(range(1, 9))  # carried over, then continued
    assert retry.values == pytest.approx([quality * 36, 2.0])  # the running sum came back


def _kill_when_checkpointed(url: str, name: str, step: int) -> object:
    return when_checkpointed(
        url, name, step, lambda trial: os.kill(trial.user_attrs["pid"], signal.SIGKILL)
    )


@pytest.mark.slow
@pytest.mark.parametrize("form", FORMS)
def test_own_code_with_two_objectives_prunes_and_resumes_on_the_local_backend(
    tmp_path: Path, form: str
) -> None:
    url = str(tmp_path / "study.journal")
    _run(own_spec("pareto", url, FORMS[form], POINTS, n_trials=4), url)
    _check_own_front(_study(url, "pareto"))

    killer = _kill_when_checkpointed(url, "pareto-k", 3)
    try:
        _run(
            own_spec(
                "pareto-k", url, FORMS[form], "[{quality: 0.5, cost: 2}]", n_trials=1, sleep=0.3
            ),
            url,
        )
    finally:
        killer.join()  # type: ignore[attr-defined]
    _check_resumed(_study(url, "pareto-k"), 0.5)


@pytest.mark.integration
@pytest.mark.parametrize("form", FORMS)
def test_own_code_with_two_objectives_on_celery_workers(
    tmp_path: Path, form: str, broker_url: str, queue: str, study_name: str, workers: WorkerPool
) -> None:
    url = str(tmp_path / "study.journal")
    execution = (
        f", backend: celery, queue: {queue}, broker: '{broker_url}', checkpoints: "
        f"'{tmp_path / 'ckpt'}'"
    )
    workers.start(url, broker_url, queue, concurrency=1)
    _run(own_spec(study_name, url, FORMS[form], POINTS, n_trials=4, execution=execution), url)
    _check_own_front(_study(url, study_name))

    killer = _kill_when_checkpointed(url, f"{study_name}-k", 3)
    try:
        spec = own_spec(
            f"{study_name}-k",
            url,
            FORMS[form],
            "[{quality: 0.5, cost: 2}]",
            n_trials=1,
            sleep=0.3,
            execution=execution,
        )
        _run(spec, url)
    finally:
        killer.join()  # type: ignore[attr-defined]
    _check_resumed(_study(url, f"{study_name}-k"), 0.5)


BUILT_IN = """
name: {name}
storage: {storage}
objective: [{{metric: accuracy}}, {{metric: params}}, {{metric: flops}}]
constraints: {{params: {{max: 3000}}}}
data:
  source: sklearn:make_classification
  options: {{n_samples: 300, n_features: 10, n_informative: 6, random_state: 0}}
  cv: {{folds: 2, seed: 0}}
{model}trainer: {{epochs: {epochs}, batch_size: 64, early_stopping: null, checkpoint_every: 1}}
space:
  lr: {{low: 1.0e-3, high: 1.0e-1, log: true}}
  width: {{low: 4, high: 64, log: true}}
  depth: 1
search:
  sampler: {{type: tpe, seed: 0, n_startup_trials: 3}}
  pruner: {{type: hyperband, min_resource: 1, reduction_factor: 2}}
  n_trials: {n_trials}
execution: {{parallelism: 2{execution}}}
"""


def _mlp_costs(width: int) -> tuple[float, float]:
    """params and multiply-adds of a one-hidden-layer MLP on 10 features, 2 classes."""
    return float(10 * width + width + width * 2 + 2), float(10 * width + width * 2)


def _check_built_in(study: optuna.Study, n_trials: int) -> None:
    trials = study.trials
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == n_trials
    assert study.metric_names == ["accuracy", "params", "flops"]
    for t in trials:
        params, flops = _mlp_costs(t.params["width"])
        vectors = t.user_attrs["intermediate_values"]
        # known from epoch 1
        assert all(v["params"] == params and v["flops"] == flops for v in vectors.values())
        assert t.constraints == {"params.max": params - 3000}
        if t.state == TrialState.COMPLETE:
            best = vectors[str(t.user_attrs["best_epoch"])]
            assert t.values == [best["accuracy"], params, flops]
        else:
            assert t.user_attrs["metrics"] == vectors[max(vectors, key=int)]
    front = {t.number for t in front_of(trials, [True, False, False])}
    assert front and front == {t.number for t in study.best_trials}
    assert all(t.constraints["params.max"] <= 0 for t in study.best_trials)


@pytest.mark.slow
def test_built_in_trainer_with_three_objectives_on_the_local_backend(tmp_path: Path) -> None:
    url = str(tmp_path / "study.journal")
    spec = parse_spec(
        BUILT_IN.format(name="bi", storage=url, model="", epochs=4, n_trials=8, execution="")
    )
    _run(spec, url)
    _check_built_in(_study(url, "bi"), 8)


@pytest.mark.integration
def test_built_in_trainer_with_several_objectives_on_celery_resumes_its_vectors(
    tmp_path: Path,
    broker_url: str,
    queue: str,
    study_name: str,
    workers: WorkerPool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLOW_MODEL_SLEEP_S", "0.05")  # for the workers: the kill lands mid-trial
    url = str(tmp_path / "study.journal")
    execution = (
        f", backend: celery, queue: {queue}, broker: '{broker_url}', checkpoints: "
        f"'{tmp_path / 'ckpt'}'"
    )
    workers.start(url, broker_url, queue, concurrency=2)
    spec = parse_spec(
        BUILT_IN.format(
            name=study_name, storage=url, model="", epochs=4, n_trials=6, execution=execution
        )
    )
    _run(spec, url)
    _check_built_in(_study(url, study_name), 6)

    # A slow model (tests/slow_model.py) killed after its third epoch resumes with its vectors.
    name = f"{study_name}-k"
    slow = BUILT_IN.format(
        name=name,
        storage=url,
        model="model: {family: 'python:tests.slow_model:build'}\n",
        epochs=8,
        n_trials=1,
        execution=execution,
    )
    killer = _kill_when_checkpointed(url, name, 3)
    try:
        _run(parse_spec(slow), url)
    finally:
        killer.join()  # type: ignore[attr-defined]
    first, retry = _study(url, name).trials[:2]
    assert first.state == TrialState.FAIL and retry.state == TrialState.COMPLETE
    assert retry.user_attrs["resumed_from_epoch"] >= 3
    vectors = retry.user_attrs["intermediate_values"]
    assert sorted(map(int, vectors)) == list(range(1, 9))
    assert all(v["params"] == 10 * 2 + 2 and math.isfinite(v["accuracy"]) for v in vectors.values())
