"""The one view of a stored trial: every field read safely, the same for every output."""

from __future__ import annotations

import datetime
from typing import Any

from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState

from automl.search.trial_view import TrialView, objective_names
from automl.trial_attrs import FailKind


def stored(
    state: TrialState,
    values: list[float] | None = None,
    steps: dict[int, float] | None = None,
    **attrs: Any,
) -> FrozenTrial:
    start = datetime.datetime(2026, 1, 1)
    return FrozenTrial(
        number=3, state=state, value=None, values=values, datetime_start=start,
        datetime_complete=start + datetime.timedelta(seconds=7.5) if state.is_finished() else None,
        params={"lr": 0.1}, distributions={"lr": FloatDistribution(0.01, 1.0)}, user_attrs=attrs,
        system_attrs={}, intermediate_values=steps or {}, trial_id=3,
    )  # fmt: skip


def test_a_complete_trial_of_one_objective() -> None:
    t = stored(
        TrialState.COMPLETE,
        [0.9],
        {1: 0.5, 2: 0.9},
        host="gpu-1",
        slot="cuda:0",
        duration_s=5.5,
        best_epoch=2,
        curve=[0.5, 0.9],
        resumed_from_epoch=1,
    )
    v = TrialView(t, ["accuracy"], now=t.datetime_start.timestamp() + 60)  # type: ignore[union-attr]
    assert (v.number, v.state, v.value, v.values) == (
        3,
        TrialState.COMPLETE,
        0.9,
        {"accuracy": 0.9},
    )
    assert (v.worker, v.duration_s, v.elapsed_s, v.age_s) == ("gpu-1 cuda:0", 5.5, 7.5, 60.0)
    assert (v.best_epoch, v.last_epoch, v.epochs_run) == (2, 2, 2)
    assert v.note == "" and v.reason is None and v.story == "resumed from the checkpoint of epoch 1"
    assert v.fail_kind is None and v.fields(("number", "value")) == {"number": 3, "value": 0.9}


def test_several_objectives_read_their_steps_from_the_vectors() -> None:
    steps = {"1": {"a": 0.5, "b": 10}, "2": {"a": 0.7, "b": 10}}
    running = TrialView(stored(TrialState.RUNNING, intermediate_values=steps), ["a", "b"])
    assert (
        running.multi and running.value is None and running.values == {} and running.last_epoch == 2
    )
    done = TrialView(stored(TrialState.COMPLETE, [0.7, 10.0]), ["a", "b"], on_front=True)
    assert done.values == {"a": 0.7, "b": 10.0} and done.value is None and done.standing == "front"


def test_an_ended_trial_says_why() -> None:
    failed = TrialView(
        stored(TrialState.FAIL, fail_reason="worker lost: SIGKILL", resumed_from_epoch=2), ["v"]
    )
    assert failed.fail_kind == FailKind.LOST and failed.reason == "worker lost: SIGKILL"
    assert failed.story == "resumed from the checkpoint of epoch 2; worker lost: SIGKILL"
    pruned = TrialView(
        stored(TrialState.PRUNED, prune_reason="pruned by the pruner", pruned_at_epoch=4), ["v"]
    )
    assert (pruned.note, pruned.pruned_at_epoch, pruned.fail_kind) == (
        "pruned by the pruner",
        4,
        None,
    )


def test_garbage_reads_as_absent() -> None:
    v = TrialView(
        stored(TrialState.FAIL, host=3, slot=[], best_epoch="2", duration_s=-1, fail_reason={}),
        ["v"],
    )
    assert (v.host, v.slot, v.worker, v.best_epoch, v.duration_s, v.note) == (
        None,
        None,
        "",
        None,
        None,
        "",
    )
    assert v.fail_kind == FailKind.ERROR and v.age_s is None  # no `now` given


def test_objective_names() -> None:
    assert objective_names(1, ["loss"]) == ["loss"] and objective_names(2, ["only one"]) == [
        "objective 1",
        "objective 2",
    ]
