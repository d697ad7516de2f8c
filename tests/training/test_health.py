"""Gradient health: layer groups, the per-epoch record, vanishing-gradient warnings."""

from __future__ import annotations

import torch
from torch import nn

from automl.training import DataCache, NullReporter, cross_validate
from automl.training.health import MAX_GROUPS, EpochHealth, HealthLog, Layout, round_sig
from tests.training.helpers import make_spec


def epoch(grads: list[float]) -> EpochHealth:
    return EpochHealth(grads, [1.0] * len(grads), [1e-3] * len(grads), [sum(grads)])


def test_vanishing_gradients_are_flagged_after_a_run_of_epochs() -> None:
    log = HealthLog(["first", "last"])
    for _ in range(2):
        log.add(epoch([1e-9, 0.5]))
    log.add(epoch([0.1, 0.5]))  # the run is broken here
    assert log.vanishing() == []
    for _ in range(3):
        log.add(epoch([1e-9, 0.5]))
    warnings = log.vanishing()
    assert len(warnings) == 1 and warnings[0].startswith("vanishing gradients in first")
    assert "up to epoch 6" in warnings[0]


def test_relative_vanishing_counts_too() -> None:
    log = HealthLog(["a", "b"])
    for _ in range(3):
        log.add(epoch([1e-4, 100.0]))  # 1e-6 of the biggest group
    assert [w.split(":")[0] for w in log.vanishing()] == ["vanishing gradients in a"]


def test_a_deep_saturated_tanh_net_gets_a_warning(cache: DataCache) -> None:
    # Huge inputs saturate tanh everywhere: gradients below the first layers all but vanish.
    params = {"depth": 6, "width": 16, "activation": "tanh", "init": "orthogonal", "lr": 1e-4}
    spec = make_spec(
        "sklearn:make_classification",
        epochs=4,
        data={
            "preprocess": "none",
            "options": {"n_samples": 120, "n_features": 5, "shift": 1000.0, "scale": 1000.0},
        },
    )
    result = cross_validate(spec, params, NullReporter(), cache=cache)
    assert any(w.startswith("vanishing gradients in layers.0.linear") for w in result.warnings)


def test_layout_groups_by_weight_owner_and_merges_big_models() -> None:
    small = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 1))
    layout = Layout.of_model(small)
    assert layout.groups == ["0", "3"] and len(layout.tensors) == 4
    sq = layout.sq_norms([torch.ones_like(t) for t in layout.tensors], stacked=False)
    assert sq.tolist() == [6.0 + 3.0, 3.0 + 1.0]
    big = nn.Sequential(*[nn.Linear(2, 2) for _ in range(40)])
    merged = Layout.of_model(big)
    assert len(merged.groups) <= MAX_GROUPS and merged.groups[0] == "0..2"
    assert len(merged.tensors) == 80


def test_round_sig() -> None:
    assert round_sig(0.000123456, 3) == 0.000123
    assert round_sig(98765.4, 2) == 99000.0
    assert round_sig(0.0) == 0.0
