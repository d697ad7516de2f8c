"""fit_final and predict: what `automl export` and `automl predict` use."""

from __future__ import annotations

import pickle

import numpy as np

from automl.spec import Task
from automl.training import DataCache, fit_final, predict
from tests.training.helpers import make_spec


def test_fit_final_scores_on_the_test_split_and_predicts(cache: DataCache) -> None:
    spec = make_spec("sklearn:wine", epochs=30)
    dataset = cache.get(spec.data, Task.CLASSIFICATION)
    fit = fit_final(spec, {"lr": 0.01}, 15, dataset)
    model, preprocessor, test_score = fit.model, fit.preprocessor, fit.test_score
    assert len(fit.train_loss) == 15 and fit.train_loss[-1] < fit.train_loss[0]
    proba = predict(model, preprocessor, dataset.X_test)
    assert proba.shape == (len(dataset.X_test), 3)
    assert np.allclose(proba.sum(1), 1.0)
    assert np.mean(proba.argmax(1) == dataset.y_test) == test_score > 0.85
    model_copy, preprocessor_copy = pickle.loads(pickle.dumps((model, preprocessor)))
    assert np.allclose(predict(model_copy, preprocessor_copy, dataset.X_test), proba)


def test_fit_final_regression_predicts_in_target_units(cache: DataCache) -> None:
    spec = make_spec("sklearn:diabetes", metric="mae", epochs=10)
    dataset = cache.get(spec.data, Task.REGRESSION)
    fit = fit_final(spec, {"lr": 0.01}, 10, dataset)
    values = predict(fit.model, fit.preprocessor, dataset.X_test)
    assert values.shape == (len(dataset.X_test),)
    assert np.mean(np.abs(values - dataset.y_test)) == fit.test_score
    assert 25 < values.mean() < 300  # diabetes targets run from 25 to 346


def test_fit_final_loads_the_data_itself_when_not_given() -> None:
    fit = fit_final(make_spec(epochs=2), {}, 2)
    assert 0.0 <= fit.test_score <= 1.0
