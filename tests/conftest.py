"""Shared fixtures: study files for tiny, fast studies and every kind of storage.

PostgreSQL and Redis are the machine's real services. Where they are down the tests that need
them skip with the reason, except when ``CI`` is set: then they fail, because CI must test them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from automl.search.storage import quiet_optuna
from automl.studyfile import StudySpec, parse_spec

POSTGRES_URL = os.environ.get("AUTOML_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("AUTOML_TEST_REDIS", "redis://127.0.0.1:6379/15")

quiet_optuna()

# A study that trains for real but fast: 200 rows, 2 folds, 3 epochs.
TINY_STUDY = """
name: {name}
storage: {storage}
objective: {{metric: accuracy}}
data:
  source: sklearn:make_classification
  options: {{n_samples: 200, n_features: 10, n_informative: 6, random_state: 0}}
  cv: {{folds: 2, seed: 0}}
trainer: {{epochs: {epochs}, batch_size: 64}}
space:
  lr: {{low: 1.0e-3, high: 1.0e-1, log: true}}
  width: {{low: 8, high: 64, log: true}}
  optimizer: {{choices: [adamw, sgd]}}
  momentum: {{low: 0.5, high: 0.9, when: {{optimizer: sgd}}}}
search:
  sampler: {{type: {sampler}, seed: 0}}
  pruner: {{type: {pruner}}}
  n_trials: {n_trials}
execution: {{parallelism: {parallelism}, trial_retries: {retries}}}
"""


def tiny_yaml(name: str, storage: str, **overrides: object) -> str:
    values: dict[str, object] = dict(
        epochs=3, sampler="tpe", pruner="median", n_trials=4, parallelism=1, retries=2
    )
    values.update(overrides)
    return TINY_STUDY.format(name=name, storage=storage, **values)


def _service_up(url: str) -> str | None:
    """None when the service answers, else why not."""
    from automl.errors import StorageError
    from automl.search.storage import make_storage

    try:
        make_storage(url, cached=False)
    except StorageError as exc:
        return exc.message
    return None


def require_service(url: str) -> None:
    why = _service_up(url)
    if why is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so this service must be up: {why}")
    pytest.skip(f"service not reachable: {why}")


@pytest.fixture(scope="session", autouse=True)
def _clean_redis_test_db() -> None:
    """The Redis journal of the tests lives in its own database; start it empty."""
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).flushdb()
    except Exception:  # noqa: BLE001 - the tests that need Redis report it themselves
        pass


STORAGE_KINDS = ["sqlite", "journal_file", "postgresql", "redis"]


@pytest.fixture(params=STORAGE_KINDS)
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every storage automl supports; the same tests run on each."""
    kind = request.param
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    if kind == "journal_file":
        return str(tmp_path / "study.journal")
    url = POSTGRES_URL if kind == "postgresql" else REDIS_URL
    require_service(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}"


@pytest.fixture
def study_name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_spec(study_name: str) -> Callable[..., StudySpec]:
    def make(storage: str, **overrides: object) -> StudySpec:
        return parse_spec(tiny_yaml(study_name, storage, **overrides))

    return make
