"""Preprocessing is fitted inside each fold, on training rows only; folds come from scikit-learn."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

import automl.training.preprocess as preprocess_module
from automl.studyfile import Preprocess, Task
from automl.training import NullReporter, Preprocessor, cross_validate, cv_splits, load_dataset
from tests.training.helpers import make_spec


def test_scaler_never_sees_validation_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Column 0 is a unique row id, so we can tell exactly which rows each scaler was fitted on.
    (tmp_path / "rows_with_ids.py").write_text(
        "import numpy as np\ndef load():\n    rng = np.random.default_rng(0)\n"
        "    X = np.column_stack([np.arange(90.0), rng.normal(size=(90, 3))])\n"
        "    return X, np.arange(90) % 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    fitted: list[np.ndarray] = []

    class SpyScaler(StandardScaler):
        def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> SpyScaler:
            fitted.append(np.asarray(X)[:, 0].copy())
            return super().fit(X, y, sample_weight)

    monkeypatch.setattr(preprocess_module, "StandardScaler", SpyScaler)
    spec = make_spec("python:rows_with_ids:load", folds=3, epochs=1)
    cross_validate(spec, {}, NullReporter())

    dataset = load_dataset(spec.data, Task.CLASSIFICATION)
    ids = dataset.X_train[:, 0]
    splits = cv_splits(dataset, spec.data)
    assert len(fitted) == len(splits) == 3
    for seen, (train_rows, val_rows) in zip(fitted, splits, strict=True):
        assert set(seen) == set(ids[train_rows])
        assert not set(seen) & set(ids[val_rows])
        assert not set(seen) & set(dataset.X_test[:, 0])  # nor test rows


def test_folds_are_stratified_and_seeded() -> None:
    spec = make_spec("sklearn:iris", folds=3)
    dataset = load_dataset(spec.data)
    splits = cv_splits(dataset, spec.data)
    for _, val_rows in splits:
        counts = np.bincount(dataset.y_train[val_rows], minlength=3)
        assert counts.max() - counts.min() <= 1
    again = cv_splits(dataset, spec.data)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(splits, again, strict=True))
    all_val = np.concatenate([v for _, v in splits])
    assert sorted(all_val.tolist()) == list(range(len(dataset.y_train)))


def test_one_hot_width_is_fixed_even_when_a_fold_lacks_a_category() -> None:
    pre = Preprocessor(Preprocess.STANDARDIZE, Task.CLASSIFICATION, (1 + 3,), {1: ("a", "b", "c")})
    X = np.array([[1.0, 0.0], [2.0, 0.0], [np.nan, 1.0], [4.0, np.nan]], dtype=np.float32)
    out = pre.fit(X, np.zeros(4)).transform(np.array([[3.0, 2.0]], dtype=np.float32))
    assert out.shape == (1, 4)
    assert out[0, 1:].tolist() == [0.0, 0.0, 1.0]  # category "c" was never seen in training
    filled = pre.transform(X)
    assert np.isfinite(filled).all()


def test_minmax_and_none() -> None:
    X = np.array([[0.0], [5.0], [10.0]], dtype=np.float32)
    y = np.zeros(3)
    minmax = Preprocessor(Preprocess.MINMAX, Task.CLASSIFICATION, (1,), {}).fit(X, y)
    assert minmax.transform(X)[:, 0].tolist() == [0.0, 0.5, 1.0]
    none = Preprocessor(Preprocess.NONE, Task.CLASSIFICATION, (1,), {}, impute=False).fit(X, y)
    assert none.features is None and none.transform(X)[:, 0].tolist() == [0.0, 5.0, 10.0]


def test_regression_targets_are_standardised_per_fold_and_inverted() -> None:
    pre = Preprocessor(Preprocess.NONE, Task.REGRESSION, (1,), {}, impute=False)
    y = np.array([100.0, 200.0, 300.0])
    pre.fit(np.zeros((3, 1), dtype=np.float32), y)
    z = pre.transform_target(y)
    assert z.mean() == pytest.approx(0.0, abs=1e-6) and z.std() == pytest.approx(1.0, abs=1e-6)
    assert pre.inverse_target(z) == pytest.approx(y)


def test_images_keep_their_shape() -> None:
    X = np.random.default_rng(0).normal(size=(5, 1, 4, 4)).astype(np.float32)
    pre = Preprocessor(Preprocess.STANDARDIZE, Task.CLASSIFICATION, (1, 4, 4), {}).fit(
        X, np.zeros(5)
    )
    assert pre.transform(X).shape == (5, 1, 4, 4)


@pytest.mark.parametrize("kind", list(Preprocess))
@pytest.mark.parametrize("categorical", [{}, {3: ("a", "b", "c")}])
def test_a_saved_preprocessor_transforms_exactly_as_the_fitted_one(
    kind: Preprocess, categorical: dict
) -> None:  # type: ignore[type-arg]
    """Export saves preprocessing as numbers (no pickle); what comes back is the same transform."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    X[:, 3] = rng.integers(0, 3, 60)
    X[3, 0] = X[5, 3] = np.nan
    shape = (6,) if categorical else (4,)
    fitted = Preprocessor(kind, Task.REGRESSION, shape, categorical).fit(X, rng.normal(size=60))
    facts, arrays = fitted.state()
    json.dumps(facts)  # plain JSON
    saved = Preprocessor.from_state(facts, arrays)
    new = rng.normal(size=(20, 4)).astype(np.float32)
    new[:, 3] = rng.integers(0, 4, 20)  # code 3: a category never seen
    new[1, 1] = new[2, 3] = np.nan
    assert np.allclose(saved.transform(new), fitted.transform(new), atol=1e-5)
    assert saved.inverse_target(np.array([0.5])) == pytest.approx(
        fitted.inverse_target(np.array([0.5]))
    )
