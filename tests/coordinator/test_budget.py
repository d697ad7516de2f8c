"""The coordinator on every storage: exact budget, resume, enqueue, timeout, failures.

Trials train for real (tiny data) through the same worker code as the process and Celery
backends; the inline backend only saves the process start-up.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from automl.backends import InlineBackend
from automl.coordinator import Coordinator
from automl.errors import StudyFailedError
from automl.search import COUNTED_STATES, best_trial, load_study, open_study
from automl.studyfile import StudySpec, parse_spec


def run_study(spec: StudySpec, capacity: int = 1, **kwargs: object) -> tuple[optuna.Study, object]:
    study = open_study(spec, spec.storage)
    state = Coordinator(spec, study, InlineBackend(spec.storage, capacity), **kwargs).run()  # type: ignore[arg-type]
    return study, state


def counted(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=COUNTED_STATES)


def test_runs_to_exactly_n_trials_and_stores_everything(
    storage_url: str, make_spec: Callable[..., StudySpec]
) -> None:
    spec = make_spec(storage_url, n_trials=4, parallelism=2)
    study, state = run_study(spec, capacity=2)
    trials = study.get_trials()
    assert len(counted(study)) == 4 == len(trials)
    assert state.stopping == "n_trials reached"  # type: ignore[attr-defined]
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert done, "at least one trial must complete"
    for t in done:
        assert sorted(t.intermediate_values) == [1, 2, 3]  # one value per epoch
        assert 0.0 <= t.value <= 1.0  # type: ignore[operator]
        assert len(t.user_attrs["fold_scores"]) == 2
        assert t.user_attrs["host"] and t.user_attrs["slot"] == "inline"
    # Any process can rebuild the study from the storage and the name alone.
    again, stored = load_study(storage_url, spec.name)
    assert stored.space == spec.space and stored.search.n_trials == 4
    assert len(again.trials) == 4


def test_conditional_parameters_reach_the_storage(
    storage_url: str, make_spec: Callable[..., StudySpec]
) -> None:
    study, _ = run_study(make_spec(storage_url, n_trials=6, sampler="random"))
    for t in study.trials:
        assert ("momentum" in t.params) == (t.params["optimizer"] == "sgd")


def test_resume_continues_and_never_exceeds_the_budget(
    journal_url: str, make_spec: Callable[..., StudySpec]
) -> None:
    study, _ = run_study(make_spec(journal_url, n_trials=2))
    assert [t.number for t in study.trials] == [0, 1]
    study, _ = run_study(make_spec(journal_url, n_trials=5))
    assert [t.number for t in study.trials] == [0, 1, 2, 3, 4]
    assert len(counted(study)) == 5
    params_before = [t.params for t in study.trials]
    study, state = run_study(make_spec(journal_url, n_trials=5))
    assert [t.params for t in study.trials] == params_before  # nothing ran again
    assert state.stopping == "n_trials reached"  # type: ignore[attr-defined]


def test_enqueued_points_run_first_and_only_once(journal_url: str, study_name: str) -> None:
    from tests.conftest import tiny_yaml

    text = tiny_yaml(study_name, journal_url, n_trials=2).replace(
        "  n_trials: 2", "  n_trials: 2\n  enqueue: [{lr: 0.05, width: 16, optimizer: adamw}]"
    )
    study, _ = run_study(parse_spec(text))
    assert study.trials[0].params == {"lr": 0.05, "width": 16, "optimizer": "adamw"}
    study, _ = run_study(parse_spec(text.replace("n_trials: 2", "n_trials: 4")))
    assert sum(t.params.get("lr") == 0.05 for t in study.trials) == 1


def test_timeout_stops_dispatching_and_lets_running_trials_end(
    journal_url: str, make_spec: Callable[..., StudySpec]
) -> None:
    ticks = iter([0.0, 0.0])  # the start and the first loop; then the clock is past the timeout
    study, state = run_study(
        make_spec(journal_url, n_trials=10, parallelism=2).model_copy(
            update={
                "search": make_spec(journal_url).search.model_copy(
                    update={"timeout": 60.0, "n_trials": 10}
                )
            }
        ),
        capacity=2,
        clock=lambda: next(ticks, 1000.0),
    )
    assert state.stopping == "timeout reached"  # type: ignore[attr-defined]
    assert len(study.trials) == 2  # the two dispatched before the timeout, none after
    assert all(t.state in COUNTED_STATES for t in study.trials)  # they were allowed to finish


def test_grid_budget_is_capped_at_the_grid_size(journal_url: str, study_name: str) -> None:
    text = f"""
name: {study_name}
storage: {journal_url}
objective: {{metric: accuracy}}
data:
  source: sklearn:make_classification
  options: {{n_samples: 120, n_features: 6, random_state: 0}}
  cv: {{folds: 2}}
trainer: {{epochs: 2}}
space: {{width: {{choices: [8, 16]}}, optimizer: {{choices: [adam, sgd]}}}}
search: {{sampler: {{type: grid}}, n_trials: 50}}
"""
    study, _ = run_study(parse_spec(text))
    assert sorted((t.params["width"], t.params["optimizer"]) for t in study.trials) == [
        (8, "adam"), (8, "sgd"), (16, "adam"), (16, "sgd")
    ]  # fmt: skip


SAMPLERS = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "gp": optuna.samplers.GPSampler,
    "qmc": optuna.samplers.QMCSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
}


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_every_sampler_drives_a_study(
    journal_url: str, make_spec: Callable[..., StudySpec], sampler: str
) -> None:
    study, _ = run_study(make_spec(journal_url, n_trials=3, sampler=sampler, epochs=2))
    assert isinstance(study.sampler, SAMPLERS[sampler]), (
        f"the study asked {type(study.sampler).__name__}"
    )
    assert len(counted(study)) == 3
    points = {tuple(sorted(t.params.items())) for t in study.trials}
    assert len(points) == 3, f"the {sampler} sampler gave the same point twice: {points}"


# Each pruner with options that let it judge from two finished trials (one bracket for
# hyperband, whose trials would otherwise land in brackets of their own by a hash).
PRUNERS = {
    "median": "{type: median, n_startup_trials: 2}",
    "successive_halving": "{type: successive_halving, min_resource: 1}",
    "hyperband": "{type: hyperband, min_resource: 1, max_resource: 2}",
    "wilcoxon": "{type: wilcoxon, p_threshold: 0.1}",
    "none": "{type: none}",
}


@pytest.mark.parametrize("pruner", sorted(PRUNERS))
def test_every_pruner_drives_a_study_and_stops_the_worse_trial(
    journal_url: str, study_name: str, pruner: str
) -> None:
    # tests/own_code.py reports a curve set by lr alone (lr * 1, 3, 6, 10, 15 at steps 1..5):
    # two trials each better than all before, then one worse at every step. Each pruner stops
    # that one early, and only that one; without a pruner it runs to its end.
    spec = parse_spec(f"""
name: {study_name}
storage: {journal_url}
objective: {{metric: total, direction: maximize}}
train: python:tests.own_code:fit
space: {{mode: {{choices: [complete]}}, lr: {{low: 0.01, high: 1.0}}}}
search:
  pruner: {PRUNERS[pruner]}
  n_trials: 3
  enqueue: [{{mode: complete, lr: 0.8}}, {{mode: complete, lr: 0.9}}, {{mode: complete, lr: 0.1}}]
""")
    study, _ = run_study(spec)
    first, better, worse = study.trials
    assert [first.state, better.state] == [TrialState.COMPLETE] * 2, (
        "a trial better than all before is never pruned"
    )
    assert worse.params["lr"] == 0.1
    if pruner == "none":
        assert worse.state == TrialState.COMPLETE and len(worse.intermediate_values) == 5
        return
    assert worse.state == TrialState.PRUNED, (
        f"the {pruner} pruner let a trial worse at every step run to its end"
    )
    assert worse.user_attrs["prune_reason"] == "pruned by the pruner"
    assert worse.user_attrs["pruned_at_epoch"] == max(worse.intermediate_values) < 5, (
        "stopped before its last step"
    )


def test_a_pruner_that_always_prunes_prunes(
    journal_url: str, make_spec: Callable[..., StudySpec]
) -> None:
    spec = make_spec(journal_url, n_trials=2)
    text = spec.model_dump(mode="json")
    text["search"]["pruner"] = {"type": "threshold", "lower": 2.0}  # accuracy is never >= 2
    study, _ = run_study(StudySpec.model_validate(text))
    assert [t.state for t in study.trials] == [TrialState.PRUNED, TrialState.PRUNED]
    assert all(t.user_attrs["prune_reason"] == "pruned by the pruner" for t in study.trials)


def test_failing_trials_stop_the_study_with_their_reason(
    journal_url: str, study_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_builder.py").write_text(
        textwrap.dedent(
            """
            def build(params, input_shape, n_outputs):
                raise ValueError("this builder is broken on purpose")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("broken_builder", None)
    from tests.conftest import tiny_yaml

    text = (
        tiny_yaml(study_name, journal_url, n_trials=10)
        .replace("trainer:", "model: {family: 'python:broken_builder:build'}\ntrainer:")
        .replace("  n_trials: 10", "  n_trials: 10\n  max_failed_trials: 3")
    )
    with pytest.raises(StudyFailedError, match="this builder is broken on purpose") as info:
        run_study(parse_spec(text))
    assert "max_failed_trials = 3" in info.value.one_line()
    study, _ = load_study(journal_url, study_name)
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 3
    assert (
        "ValueError: this builder is broken on purpose" in study.trials[0].user_attrs["fail_reason"]
    )


def test_stop_reasons_are_values_with_the_words_users_see() -> None:
    from automl.coordinator import RunState, StopReason

    state = RunState(n_trials=3, timeout_s=None)
    assert state.stop_words == ""
    state.stopping = StopReason.TIMEOUT
    assert state.stop_words == "timeout reached" == f"{state.stopping}"
    state.stopping, state.stop_detail = StopReason.TOO_MANY_FAILED, "2 failed in this run"
    assert state.stop_words == "too many failed trials: 2 failed in this run"


class _Starts(InlineBackend):
    """The inline backend, counting its starts."""

    starts = 0

    def start(self) -> None:
        type(self).starts += 1
        super().start()


def test_a_spent_budget_starts_no_backend_unless_a_trial_is_left_running(
    journal_url: str, make_spec: Callable[..., StudySpec]
) -> None:
    spec = make_spec(journal_url, n_trials=2)
    study, _ = run_study(spec)
    _Starts.starts = 0
    state = Coordinator(spec, open_study(spec, journal_url), _Starts(journal_url, 1)).run()
    assert _Starts.starts == 0  # nothing to run: no worker started
    assert state.stopping == "n_trials reached" and state.done == 2
    assert state.best is not None and state.best.number == best_trial(study).number  # type: ignore[union-attr]
    study.ask()  # a trial left RUNNING by a coordinator that died: it must be recovered
    state = Coordinator(spec, open_study(spec, journal_url), _Starts(journal_url, 1)).run()
    assert _Starts.starts == 1
    assert [t.state for t in study.trials][2] == TrialState.FAIL  # orphaned, failed
    assert state.done == 2
