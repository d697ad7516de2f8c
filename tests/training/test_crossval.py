"""cross_validate end to end: metrics, reporting and pruning, divergence, early stopping, seeds,
paths."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

import automl.training.crossval as crossval
from automl.errors import DataError, SpecError, TrialPruned
from automl.studyfile import Metric, Precision, Preprocess, Task
from automl.training import DataCache, NullReporter, Preprocessor, TrialResult, cross_validate
from automl.training.device import resolve
from automl.training.health import round_sig
from automl.training.metrics import score, softmax
from tests.training.helpers import make_spec


class StopAt(NullReporter):
    """Says "prune" once ``epoch`` has been reported."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def should_prune(self) -> bool:
        return max(self.values, default=0) >= self.epoch


def reporter_curve(reporter: NullReporter) -> list[float]:
    return [round_sig(v, 5) for v in reporter.values.values()]


@pytest.mark.parametrize(
    ("source", "metric", "low", "high"),
    [
        ("sklearn:iris", "accuracy", 0.7, 1.0),
        ("sklearn:iris", "balanced_accuracy", 0.7, 1.0),
        ("sklearn:wine", "f1_macro", 0.7, 1.0),
        ("sklearn:breast_cancer", "roc_auc", 0.9, 1.0),
        ("sklearn:wine", "roc_auc", 0.9, 1.0),  # multi-class, one-vs-rest
        ("sklearn:iris", "log_loss", 0.0, 0.9),
        ("sklearn:diabetes", "mse", 2000.0, 6000.0),
        ("sklearn:diabetes", "rmse", 40.0, 80.0),
        ("sklearn:diabetes", "mae", 30.0, 70.0),
        ("sklearn:diabetes", "r2", 0.2, 0.7),
    ],
)
def test_each_metric(source: str, metric: str, low: float, high: float, cache: DataCache) -> None:
    spec = make_spec(source, metric=metric, epochs=8)
    reporter = NullReporter()
    result = cross_validate(spec, {"lr": 0.01}, reporter, cache=cache)
    assert low <= result.value <= high
    assert list(reporter.values) == list(range(1, 9)) and reporter.values[8] == result.curve[-1]
    best = (np.argmin if Metric(metric).direction.value == "minimize" else np.argmax)(result.curve)
    assert result.best_epoch == best + 1 and result.value == result.curve[best]
    assert result.value == pytest.approx(np.mean(result.fold_scores))


def test_score_matches_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    logits, y = rng.normal(size=(50, 3)), np.arange(50) % 3
    pre = Preprocessor(Preprocess.NONE, Task.CLASSIFICATION, (3,), {})
    proba = softmax(logits)
    assert score(Metric.ACCURACY, logits, y, 3, pre) == skm.accuracy_score(y, proba.argmax(1))
    assert score(Metric.LOG_LOSS, logits, y, 3, pre) == pytest.approx(skm.log_loss(y, proba))
    reg = Preprocessor(Preprocess.NONE, Task.REGRESSION, (1,), {}, impute=False)
    reg.fit(np.zeros((3, 1), dtype=np.float32), np.array([10.0, 20.0, 30.0]))
    out = np.array([[0.0], [1.0]])  # standard units -> 20 and 28.16...
    truth = np.array([20.0, 30.0])
    assert score(Metric.MAE, out, truth, 0, reg) == pytest.approx(
        skm.mean_absolute_error(truth, reg.inverse_target(out[:, 0]))
    )


def test_reporter_that_says_stop_prunes_the_trial(cache: DataCache) -> None:
    reporter = StopAt(2)
    with pytest.raises(TrialPruned) as info:
        cross_validate(make_spec(epochs=10), {"lr": 0.01}, reporter, cache=cache)
    assert info.value.reason == "pruned by the pruner" and info.value.epoch == 2
    assert list(reporter.values) == [1, 2]
    details = info.value.details
    assert details["epochs_run"] == 2 and details["curve"] == reporter_curve(reporter)
    json.dumps(details)


def test_a_trial_that_trained_every_epoch_is_not_pruned(cache: DataCache) -> None:
    reporter = StopAt(4)  # says "prune" once the last epoch is reported
    result = cross_validate(make_spec(epochs=4), {"lr": 0.01}, reporter, cache=cache)
    assert list(reporter.values) == [1, 2, 3, 4] and len(result.curve) == 4


def test_huge_sgd_learning_rate_diverges_on_digits(cache: DataCache) -> None:
    spec = make_spec("sklearn:digits", folds=3, epochs=10, batch_size=128)
    reporter = NullReporter()
    with pytest.raises(TrialPruned) as info:
        cross_validate(spec, {"lr": 50, "optimizer": "sgd"}, reporter, cache=cache)
    assert info.value.reason.startswith("diverged")
    assert info.value.epoch <= 3 and len(reporter.values) < info.value.epoch
    json.dumps(info.value.details)


def test_divergence_on_the_loop_path_too(cache: DataCache) -> None:
    spec = make_spec("sklearn:digits", folds=2, epochs=10, batch_size=128)
    with pytest.raises(TrialPruned, match="diverged") as info:
        cross_validate(
            spec, {"lr": 50, "optimizer": "sgd", "batch_norm": True}, NullReporter(), cache=cache
        )
    assert info.value.reason.startswith("diverged") and info.value.epoch <= 3


def test_early_stopping_ends_the_trial_normally(cache: DataCache) -> None:
    spec = make_spec(epochs=20, trainer={"early_stopping": {"patience": 2, "min_delta": 0.5}})
    result = cross_validate(spec, {"lr": 0.01}, NullReporter(), cache=cache)
    # No epoch can gain 0.5 accuracy over the first, so the trial stops after 1 + patience.
    assert result.epochs_run == 3 and len(result.curve) == 3
    assert result.value == max(result.curve)


def test_same_seed_same_score_other_seed_other_score(cache: DataCache) -> None:
    params = {"lr": 0.01, "dropout": 0.2}
    a = cross_validate(make_spec(epochs=4, seed=3), params, NullReporter(), cache=cache)
    b = cross_validate(make_spec(epochs=4, seed=3), params, NullReporter(), cache=cache)
    c = cross_validate(make_spec(epochs=4, seed=4), params, NullReporter(), cache=cache)
    assert a.curve == b.curve and a.fold_curves == b.fold_curves and a.value == b.value
    assert a.train_loss != c.train_loss
    loop = {**params, "batch_norm": True}
    d = cross_validate(make_spec(epochs=3, seed=3), loop, NullReporter(), cache=cache)
    e = cross_validate(make_spec(epochs=3, seed=3), loop, NullReporter(), cache=cache)
    assert d.curve == e.curve and d.path == "loop"


@pytest.mark.parametrize(
    "params",
    [
        {"lr": 0.003},
        {"optimizer": "sgd", "lr": 0.05, "weight_decay": 1e-3, "l1": 1e-4, "grad_clip": 0.5,
         "schedule": "cosine", "warmup_epochs": 1, "label_smoothing": 0.1},
        {"optimizer": "rmsprop", "lr": 1e-3, "depth": 1, "activation": "tanh", "init": "xavier"},
    ],
    ids=["adamw", "sgd-everything", "rmsprop"],
)  # fmt: skip
def test_stacked_path_agrees_with_the_loop_path(
    params: dict[str, object], cache: DataCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_spec("sklearn:digits", folds=3, epochs=3, batch_size=100)
    fast = cross_validate(spec, params, NullReporter(), cache=cache)
    monkeypatch.setattr(crossval, "stackable", lambda *_: False)
    slow = cross_validate(spec, params, NullReporter(), cache=cache)
    assert (fast.path, slow.path) == ("stacked", "loop")
    assert fast.curve == pytest.approx(slow.curve, abs=2e-3)
    assert fast.train_loss == pytest.approx(slow.train_loss, rel=1e-3)
    assert fast.health["groups"] == slow.health["groups"]
    assert np.allclose(fast.health["grad_norm"], slow.health["grad_norm"], rtol=1e-2)
    assert np.allclose(fast.health["weight_norm"], slow.health["weight_norm"], rtol=1e-3)


def test_stacked_path_with_dropout_is_close_but_not_identical(
    cache: DataCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_spec("sklearn:digits", folds=3, epochs=4, batch_size=100)
    fast = cross_validate(spec, {"dropout": 0.3}, NullReporter(), cache=cache)
    monkeypatch.setattr(crossval, "stackable", lambda *_: False)
    slow = cross_validate(spec, {"dropout": 0.3}, NullReporter(), cache=cache)
    assert abs(fast.value - slow.value) < 0.03  # different dropout masks, same model


def test_user_attrs_are_json_safe_and_compact(cache: DataCache) -> None:
    result = cross_validate(
        make_spec(epochs=100, folds=5), {"lr": 0.01}, NullReporter(), cache=cache
    )
    attrs = result.user_attrs()
    text = json.dumps(attrs, allow_nan=False)
    assert len(text) < 50_000
    assert set(attrs) >= {
        "fold_scores",
        "best_epoch",
        "epochs_run",
        "curve",
        "fold_curves",
        "health",
        "warnings",
    }
    assert len(attrs["fold_curves"]) == 5 and len(attrs["curve"]) == 100
    health = attrs["health"]
    assert health["groups"] == ["layers.0.linear", "layers.1.linear", "out"]
    assert len(health["grad_norm"]) == 100 and len(health["grad_norm"][0]) == 3
    assert all(v > 0 for v in health["weight_norm"][-1])


def test_health_of_a_cnn_names_each_conv_and_linear(cache: DataCache) -> None:
    spec = make_spec("sklearn:digits", family="cnn", folds=2, epochs=2, batch_size=64)
    params = {"depth": 2, "channels": 8, "width": 32, "lr": 0.01}
    result = cross_validate(spec, params, NullReporter(), cache=cache)
    assert result.path == "loop"
    assert result.health["groups"] == ["blocks.0.conv", "blocks.1.conv", "hidden", "out"]
    assert result.value > 0.3


def test_user_builder_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: DataCache
) -> None:
    (tmp_path / "tiny_builder.py").write_text(
        "from torch import nn\ndef build(params, input_shape, n_outputs):\n"
        "    return nn.Sequential(nn.Linear(input_shape[0], params['hidden']), nn.Tanh(),\n"
        "                         nn.Linear(params['hidden'], n_outputs))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = make_spec(family="python:tiny_builder:build", epochs=5)
    result = cross_validate(
        spec, {"hidden": 16, "lr": 0.02, "optimizer": "adam"}, NullReporter(), cache=cache
    )
    assert result.path == "loop" and result.value > 0.7
    assert result.health["groups"] == ["0", "2"]


def test_csv_with_categories_and_gaps_trains(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lines = ["colour,x,label"]
    for i in range(60):
        colour = ["red", "blue", ""][i % 3]
        x = "" if i % 9 == 0 else f"{rng.normal() + (i % 2) * 2:.3f}"
        lines.append(f"{colour},{x},{'yes' if i % 2 else 'no'}")
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    spec = make_spec(f"csv:{tmp_path / 'd.csv'}", data={"target": "label"}, epochs=5)
    result = cross_validate(spec, {"lr": 0.02}, NullReporter())
    assert math.isfinite(result.value) and result.value > 0.6


def test_regression_trial_on_generated_data(cache: DataCache) -> None:
    spec = make_spec(
        "sklearn:make_regression", metric="r2", epochs=10,
        data={"options": {"n_samples": 200, "n_features": 5, "noise": 5.0}},
    )  # fmt: skip
    result = cross_validate(spec, {"lr": 0.01}, NullReporter(), cache=cache)
    assert result.value > 0.8  # needs the per-fold target scaling: y spans hundreds


def test_devices_and_precisions() -> None:
    placement = resolve("cpu", Precision.AUTO)
    assert placement.device.type == "cpu" and placement.precision == Precision.FP32
    assert resolve("auto", Precision.FP32).device.type in ("cpu", "cuda")
    assert resolve("cpu", Precision.FP16).needs_scaler
    if not __import__("torch").cuda.is_available():
        with pytest.raises(SpecError, match=r"^trainer\.device: cuda:1 was asked for"):
            resolve("cuda:1", Precision.AUTO)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_runs_on_the_cpu(precision: str, cache: DataCache) -> None:
    spec = make_spec(epochs=3, trainer={"precision": precision})
    result = cross_validate(spec, {"lr": 0.02}, NullReporter(), cache=cache)
    assert result.precision == precision and result.value > 0.5
    assert result.path == ("loop" if precision == "fp16" else "stacked")


def test_result_is_a_dataclass_with_what_the_worker_needs(cache: DataCache) -> None:
    result = cross_validate(make_spec(epochs=2), {}, NullReporter(), cache=cache)
    assert isinstance(result, TrialResult)
    assert result.epochs_run == 2 and result.best_epoch in (1, 2) and len(result.fold_scores) == 3
    assert result.device == "cpu" and result.duration_s > 0 and result.warnings == []


def test_a_user_builder_owns_the_model_params(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: DataCache
) -> None:
    (tmp_path / "swish_builder.py").write_text(
        "from torch import nn\ndef build(params, input_shape, n_outputs):\n"
        "    assert params['activation'] == 'swish'\n"
        "    return nn.Sequential(nn.Linear(input_shape[0], 8), nn.SiLU(), nn.Linear(8, "
        "n_outputs))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = make_spec(family="python:swish_builder:build", epochs=1)
    result = cross_validate(spec, {"activation": "swish", "lr": 0.01}, NullReporter(), cache=cache)
    assert result.epochs_run == 1


def test_more_folds_than_regression_rows() -> None:
    spec = make_spec(
        "sklearn:make_regression", metric="mse", folds=10,
        data={"options": {"n_samples": 10, "n_features": 2}},
    )  # fmt: skip
    with pytest.raises(
        DataError, match=r"^data\.cv\.folds: 10 folds need at least 10 training rows"
    ):
        cross_validate(spec, {}, NullReporter())


def test_repeated_cv_scores_every_fold_of_every_repeat(cache: DataCache) -> None:
    once = cross_validate(
        make_spec("sklearn:wine", folds=3, epochs=3), {"lr": 0.01}, NullReporter(), cache=cache
    )
    spec = make_spec(
        "sklearn:wine", folds=3, epochs=3, data={"cv": {"folds": 3, "repeats": 2, "seed": 0}}
    )
    twice = cross_validate(spec, {"lr": 0.01}, NullReporter(), cache=cache)
    assert len(twice.fold_scores) == len(twice.fold_curves) == 6
    assert twice.curve == pytest.approx(
        [float(np.mean(c)) for c in zip(*twice.fold_curves, strict=True)]
    )
    # The first repeat holds the same folds, models and batches as a single k-fold run.
    assert np.allclose(twice.fold_curves[:3], once.fold_curves, atol=1e-6)
