"""Trial attributes: every stored name is declared; every reader survives what storage holds.

The storage is untrusted (optuna-dashboard can write any JSON into a user attribute), so each
reader is tried on good values and on bad ones: wrong types, negative numbers, None, values
too big for a float. A bad value reads as the documented default and never raises.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState, create_trial

from automl import trial_attrs
from automl.backends import InlineBackend
from automl.coordinator import Coordinator
from automl.report.html import render_report
from automl.report.summary import study_status, summary_table
from automl.search import open_study
from automl.search.attrs import (
    attempt_of,
    best_epoch_of,
    duration_s_of,
    fail_reason_of,
    host_of,
    lineage_root,
    note_of,
    pruned_at_epoch_of,
    slot_of,
    worker_of,
)
from automl.search.series import (
    curve_of,
    fold_curves_of,
    fold_scores_of,
    health_of,
    train_loss_of,
)
from automl.studyfile import StudySpec, parse_spec
from automl.tracking.base import trial_record
from automl.training import TrialResult
from tests.conftest import tiny_yaml

HEALTH = {
    "groups": ["0.weight", "2.weight"],
    "grad_norm": [[0.5, 0.25], [0.4, None]],
    "weight_norm": [[1.0, 2.0], [1.1, 2.1]],
    "update_ratio": [[0.01, 0.02], [0.01, 0.02]],
    "max_grad_norm": [0.5, 0.4],
}

# Values no reader may take at face value; each reader is tried on every one of them.
BAD_VALUES: list[Any] = [
    None, True, -1, -0.5, 10**400, math.nan, math.inf, "3", "", "  ", [], [1, "x"], [[1], 2],
    [True], {}, {"groups": 3}, {"groups": ["a"], "grad_norm": [1.0]}, {"grad_norm": "x"}, 12.5,
]  # fmt: skip


def frozen(state: TrialState = TrialState.COMPLETE, number: int = 5, **attrs: Any) -> FrozenTrial:
    value = 0.5 if state == TrialState.COMPLETE else None
    trial = create_trial(state=state, value=value, user_attrs=attrs)
    trial.number = number
    return trial


def test_every_training_fact_is_a_declared_name() -> None:
    result = TrialResult(
        value=0.5, best_epoch=1, epochs_run=1, fold_scores=[0.5, 0.5], curve=[0.5],
        fold_curves=[[0.5], [0.5]], health=dict(HEALTH), warnings=["w"], train_loss=[0.7],
    )  # fmt: skip
    assert set(result.user_attrs()) == trial_attrs.TRAINING_FACTS
    assert trial_attrs.TRAINING_FACTS <= trial_attrs.ALL


def test_names_are_distinct_and_unchanged() -> None:
    """The names are the storage schema: dashboards and stored studies know them by these."""
    names = {k: v for k, v in vars(trial_attrs).items() if k.isupper() and isinstance(v, str)}
    assert len(set(names.values())) == len(names) == len(trial_attrs.ALL)
    assert set(names.values()) == trial_attrs.ALL
    assert all(v == k.lower() for k, v in names.items())


def test_a_real_study_stores_only_declared_names_and_reads_back(
    sqlite_url: str, make_spec: Callable[..., StudySpec]
) -> None:
    spec = make_spec(sqlite_url, n_trials=2, epochs=2, sampler="random")
    study = open_study(spec, sqlite_url)
    Coordinator(spec, study, InlineBackend(sqlite_url)).run()
    for t in study.get_trials():
        assert set(t.user_attrs) <= trial_attrs.ALL, set(t.user_attrs) - trial_attrs.ALL
        assert host_of(t) and slot_of(t) == "inline" and worker_of(t).endswith(" inline")
        assert duration_s_of(t) is not None and len(fold_scores_of(t)) == 2
        if t.state == TrialState.COMPLETE:
            assert best_epoch_of(t) in (1, 2) and len(curve_of(t)) == 2 and health_of(t)["groups"]


def test_readers_on_good_values() -> None:
    t = frozen(
        host="gpu-7", slot="cuda:1", duration_s=12.5, best_epoch=3, fold_scores=[0.5, None, 1],
        curve=[0.1, 0.2, None], train_loss=[1.0, 0.5], fold_curves=[[0.1, 0.2], [0.3, None]],
        health=HEALTH | {"extra": "dropped"}, attempt=2, retry_of=1,
    )  # fmt: skip
    assert (host_of(t), slot_of(t), worker_of(t)) == ("gpu-7", "cuda:1", "gpu-7 cuda:1")
    assert duration_s_of(t) == 12.5 and best_epoch_of(t) == 3
    assert fold_scores_of(t) == [0.5, None, 1.0] and curve_of(t) == [0.1, 0.2, None]
    assert train_loss_of(t) == [1.0, 0.5] and fold_curves_of(t) == [[0.1, 0.2], [0.3, None]]
    assert health_of(t) == HEALTH
    assert attempt_of(t) == 2 and lineage_root(t) == 1
    assert worker_of(frozen(host="gpu-7")) == "gpu-7" and worker_of(frozen()) == ""


def test_note_follows_the_state() -> None:
    both = {"fail_reason": "worker lost:\n  SIGKILL", "prune_reason": "pruned by the pruner"}
    assert note_of(frozen(TrialState.FAIL, **both)) == "worker lost: SIGKILL"  # one line
    assert note_of(frozen(TrialState.PRUNED, **both)) == "pruned by the pruner"
    # A trial that finished while the coordinator failed it keeps a stale fail_reason.
    assert note_of(frozen(TrialState.COMPLETE, **both)) == ""
    assert note_of(frozen(TrialState.FAIL)) == ""
    assert fail_reason_of(frozen(TrialState.FAIL)) == "unknown"
    assert len(note_of(frozen(TrialState.FAIL, fail_reason="x" * 5000))) == 500
    assert pruned_at_epoch_of(frozen(TrialState.PRUNED, pruned_at_epoch=4)) == 4
    assert pruned_at_epoch_of(frozen(TrialState.FAIL, pruned_at_epoch=4)) is None


def test_no_epoch_is_no_best_epoch() -> None:
    assert best_epoch_of(frozen(best_epoch=0)) is None  # training writes 0 when no epoch ran


TEXT_BAD: list[Any] = [None, True, -1, 12.5, 10**400, math.nan, [], ["x"], {}, "", "  \n"]
WHOLE_BAD: list[Any] = [None, True, -1, -0.5, 12.5, 3.0, math.nan, "3", [], {}]
EPOCH_BAD: list[Any] = [*WHOLE_BAD, 0, 10**400, 100_001]
SECONDS_BAD: list[Any] = [None, True, -1, -0.5, 10**400, math.nan, math.inf, "3", [], {}]
SERIES_BAD: list[Any] = [None, True, 3, "3", {}, [1, "x"], [True], [[1.0]], [None, {}]]
TABLE_BAD: list[Any] = [None, 3, "3", {}, [1.0, 2.0], [[1.0], 2.0], [["x"]], [[1.0], None]]
HEALTH_BAD: list[Any] = [
    None, [], "3", 3, {"groups": 3}, {"groups": [1]}, {"groups": ["a"], "grad_norm": [1.0]},
    {"grad_norm": "x"}, {"max_grad_norm": [[1.0]]}, {"weight_norm": [[True]]},
]  # fmt: skip
READERS: list[tuple[str, Callable[[FrozenTrial], Any], Any, list[Any]]] = [
    ("host", host_of, None, TEXT_BAD),
    ("slot", slot_of, None, TEXT_BAD),
    ("fail_reason", fail_reason_of, "unknown", TEXT_BAD),
    ("attempt", attempt_of, 0, WHOLE_BAD),
    ("best_epoch", best_epoch_of, None, EPOCH_BAD),
    ("duration_s", duration_s_of, None, SECONDS_BAD),
    ("fold_scores", fold_scores_of, [], SERIES_BAD),
    ("curve", curve_of, [], SERIES_BAD),
    ("train_loss", train_loss_of, [], SERIES_BAD),
    ("fold_curves", fold_curves_of, [], TABLE_BAD),
    ("health", health_of, {}, HEALTH_BAD),
]


@pytest.mark.parametrize(("key", "reader", "default", "bad"), READERS, ids=[r[0] for r in READERS])
def test_readers_on_bad_values(
    key: str,
    reader: Callable[[FrozenTrial], Any],
    default: Any,
    bad: list[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    for value in bad:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="automl.search.attrs"):
            assert reader(frozen(TrialState.FAIL, **{key: value})) == default, value
        assert len(caplog.records) <= 1  # at most one warning, and no exception


def test_numbers_too_big_or_not_finite_in_a_series_read_as_none() -> None:
    t = frozen(curve=[10**400, math.nan, -math.inf, 1], fold_curves=[[10**400, 2]])
    assert curve_of(t) == [None, None, None, 1.0] and fold_curves_of(t) == [[None, 2.0]]


@pytest.mark.parametrize("value", BAD_VALUES)
def test_readers_with_a_state_on_bad_values(value: Any) -> None:
    assert lineage_root(frozen(retry_of=value)) == 5
    assert lineage_root(frozen(retry_of=9)) == 5  # a retry of a later trial is nonsense
    assert note_of(frozen(TrialState.FAIL, fail_reason=value)) in ("", "3")
    assert note_of(frozen(TrialState.PRUNED, prune_reason=value)) in ("", "3")
    assert pruned_at_epoch_of(frozen(TrialState.PRUNED, pruned_at_epoch=value)) is None
    assert worker_of(frozen(host=value, slot=value)) in ("", "3 3")


def test_reports_and_trackers_survive_garbage_attributes(sqlite_url: str) -> None:
    """Status, the end-of-run table, the HTML report and the tracker record read every trial."""
    study = optuna.create_study(direction="maximize")
    for i, value in enumerate(BAD_VALUES):
        attrs = {name: value for name in trial_attrs.ALL}
        study.add_trial(create_trial(state=TrialState.COMPLETE, value=float(i), user_attrs=attrs))
        study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs=attrs))
        study.add_trial(create_trial(state=TrialState.FAIL, user_attrs=attrs))
    spec = parse_spec(tiny_yaml("garbage", sqlite_url))
    status = study_status(study, now=0.0)
    assert status["best"]["best_epoch"] is None
    assert set(status["failure_reasons"]) == {"unknown", "3"}
    summary_table(study)
    page = render_report(study, None)
    assert "trial-table" in page
    for t in study.get_trials():
        record = trial_record(t, spec, sqlite_url)
        record.tags(), record.epoch_series(), record.summary()


def _failed(**attrs: Any) -> FrozenTrial:
    return create_trial(state=TrialState.FAIL, user_attrs=attrs)


# the kind decides, not the words
@pytest.mark.parametrize(
    ("attrs", "kind"),
    [
        ({"fail_kind": "preempted", "fail_reason": "anything at all"}, "preempted"),
        (
            {"fail_kind": "lost", "fail_reason": "preempted"},
            "lost",
        ),
        ({"fail_reason": "preempted"}, "preempted"),  # trials written before fail_kind
        ({"fail_reason": "interrupted: its coordinator stopped while it ran"}, "interrupted"),
        ({"fail_reason": "worker lost: lease expired"}, "lost"),
        ({"fail_reason": "not started before the timeout"}, "not_started"),
        ({"fail_reason": "ValueError: bad"}, "error"),
        ({"fail_kind": "no such kind", "fail_reason": "preempted"}, "preempted"),
        ({"fail_kind": 3}, "error"),
        ({}, "error"),
    ],
)
def test_fail_kind_of_reads_the_kind_or_the_words_of_older_trials(
    attrs: dict[str, Any], kind: str
) -> None:
    from automl.search.attrs import fail_kind_of

    assert fail_kind_of(_failed(**attrs)) == trial_attrs.FailKind(kind)


def test_only_a_failed_trial_has_a_fail_kind() -> None:
    from automl.search.attrs import fail_kind_of

    assert fail_kind_of(create_trial(value=1.0, user_attrs={"fail_kind": "lost"})) is None
