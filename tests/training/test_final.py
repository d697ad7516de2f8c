"""fit_final and predict: what `automl export` and `automl predict` use."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from automl.studyfile import Task
from automl.training import DataCache, fit_final, predict
from automl.training.models import MLP, Ensemble
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


def test_an_ensemble_averages_seeded_members_and_is_scored_as_one(cache: DataCache) -> None:
    spec = make_spec("sklearn:wine", epochs=20)
    dataset = cache.get(spec.data, Task.CLASSIFICATION)
    fit = fit_final(spec, {"lr": 0.01, "width": 32}, 8, dataset, ensemble=3)
    assert isinstance(fit.model, Ensemble) and len(fit.model.members) == 3
    assert all(isinstance(m, MLP) for m in fit.model.members)  # unstacked into plain modules
    proba = predict(fit.model, fit.preprocessor, dataset.X_test)
    each = [predict(m, fit.preprocessor, dataset.X_test) for m in fit.model.members]
    assert np.allclose(proba, np.mean(each, axis=0), atol=1e-6)  # the mean of the probabilities
    assert not np.allclose(each[0], each[1], atol=1e-3)  # every member has its own seed
    assert np.mean(proba.argmax(1) == dataset.y_test) == fit.test_score
    # Member 0 trains as a single fit does (same seed, same batches), here on the batched path.
    single = fit_final(spec, {"lr": 0.01, "width": 32}, 8, dataset)
    assert np.allclose(
        each[0], predict(single.model, single.preprocessor, dataset.X_test), atol=1e-3
    )


def test_a_regression_ensemble_averages_values(cache: DataCache) -> None:
    spec = make_spec("sklearn:diabetes", metric="mae", epochs=10)
    dataset = cache.get(spec.data, Task.REGRESSION)
    fit = fit_final(spec, {"lr": 0.01}, 6, dataset, ensemble=2)
    values = predict(fit.model, fit.preprocessor, dataset.X_test)
    each = [predict(m, fit.preprocessor, dataset.X_test) for m in fit.model.members]
    assert np.allclose(values, np.mean(each, axis=0), rtol=1e-5)
    assert np.mean(np.abs(values - dataset.y_test)) == pytest.approx(fit.test_score)


def test_an_ensemble_of_a_batch_norm_mlp_trains_member_after_member(cache: DataCache) -> None:
    spec = make_spec("sklearn:iris", epochs=4)
    dataset = cache.get(spec.data, Task.CLASSIFICATION)
    fit = fit_final(spec, {"lr": 0.01, "batch_norm": True}, 4, dataset, ensemble=2)
    members = fit.model.members
    assert all(isinstance(m.layers[0].norm, torch.nn.BatchNorm1d) for m in members)
    assert not torch.equal(members[0].out.weight, members[1].out.weight)
    round_trip = pickle.loads(pickle.dumps(fit.model))
    assert np.allclose(predict(round_trip, fit.preprocessor, dataset.X_test),
                       predict(fit.model, fit.preprocessor, dataset.X_test))  # fmt: skip


def test_an_ensemble_needs_a_member() -> None:
    with pytest.raises(ValueError, match="ensemble must be >= 1, but got 0"):
        fit_final(make_spec(epochs=1), {}, 1, ensemble=0)
