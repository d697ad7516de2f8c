"""Shared fixtures: study files for tiny, fast studies and every kind of storage.

PostgreSQL and Redis are the machine's real services. Where they are down the tests that need
them skip with the reason, except when ``CI`` is set: then they fail, because CI must test them.

Every test that needs one is marked ``integration``, so that ``pytest -m "not integration"``
runs without them: a test that asks for a service fixture (:data:`SERVICE_FIXTURES`, and the
``postgresql`` and ``redis`` kinds of ``storage_url``, which carry the mark themselves) without
the mark fails at collection, naming the fixture and the fix.
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
BROKER_URL = os.environ.get("AUTOML_TEST_BROKER", "redis://127.0.0.1:6379/14")

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


# Fixtures that reach the machine's PostgreSQL or Redis, or start a redis-server: a test that
# asks for one must be marked integration (checked below, at collection and when it is asked).
SERVICE_FIXTURES = frozenset({"postgres_url", "journal_redis_url", "broker_url", "redis_server"})
INTEGRATION_HINT = (
    "mark it @pytest.mark.integration (or its module: pytestmark = pytest.mark.integration), "
    "so that `pytest -m 'not integration'` runs without PostgreSQL and Redis"
)


# pyproject's timeout (300 s) is for slow, integration and docker tests; an unmarked test is a
# fast one, and one that runs this long is hung.
FAST_TIMEOUT_S = 60
LONG_MARKS = ("slow", "integration", "docker")


@pytest.hookimpl(tryfirst=True)  # before -m deselects anything: the fast loop checks every test
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = []
    for item in items:
        if not any(item.get_closest_marker(m) for m in (*LONG_MARKS, "timeout")):
            item.add_marker(pytest.mark.timeout(FAST_TIMEOUT_S))
        services = sorted(SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())))
        if services and item.get_closest_marker("integration") is None:
            unmarked.append(f"  {item.nodeid} (uses {', '.join(services)})")
    if unmarked:
        raise pytest.UsageError(
            "tests that use PostgreSQL or Redis but are not marked integration:\n"
            + "\n".join(unmarked)
            + f"\n{INTEGRATION_HINT}"
        )


def require_integration(request: pytest.FixtureRequest) -> None:
    """For a service fixture: fail a test that reached it without the integration mark (one
    that asked for it with ``request.getfixturevalue``, which collection cannot see)."""
    if request.node.get_closest_marker("integration") is None:
        pytest.fail(
            f"{request.node.nodeid} uses {request.fixturename} but is not marked "
            f"integration: {INTEGRATION_HINT}"
        )


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> str:
    """The machine's PostgreSQL (``AUTOML_TEST_POSTGRES``)."""
    require_integration(request)
    require_service(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def journal_redis_url(request: pytest.FixtureRequest) -> str:
    """The machine's Redis as a journal storage (``AUTOML_TEST_REDIS``)."""
    require_integration(request)
    require_service(REDIS_URL)
    request.getfixturevalue("_clean_redis_test_db")
    return REDIS_URL


@pytest.fixture(scope="session")
def _broker_db() -> str:
    require_service(BROKER_URL)
    import redis

    redis.Redis.from_url(BROKER_URL).flushdb()  # the tests' own database: queues and claims
    return BROKER_URL


@pytest.fixture
def broker_url(request: pytest.FixtureRequest) -> str:
    """The machine's Redis as the Celery broker (``AUTOML_TEST_BROKER``), emptied once per
    session."""
    require_integration(request)
    return str(request.getfixturevalue("_broker_db"))


@pytest.fixture(scope="session")
def _clean_redis_test_db() -> None:
    """The Redis journal of the tests lives in its own database; start it empty (once, when
    the first test that uses it starts: a run without such tests never touches Redis)."""
    import redis

    redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).flushdb()


STORAGE_KINDS = ["sqlite", "journal_file", "postgresql", "redis"]
SERVICE_STORAGES = ("postgresql", "redis")


@pytest.fixture(
    params=[
        pytest.param(k, marks=pytest.mark.integration) if k in SERVICE_STORAGES else k
        for k in STORAGE_KINDS
    ]
)
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every storage automl supports; the same tests run on each (PostgreSQL and Redis:
    integration)."""
    kind = request.param
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    if kind == "journal_file":
        return str(tmp_path / "study.journal")
    url = POSTGRES_URL if kind == "postgresql" else REDIS_URL
    require_service(url)
    if kind == "redis":
        request.getfixturevalue("_clean_redis_test_db")
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}"


@pytest.fixture
def journal_url(tmp_path: Path) -> str:
    """A journal file: for the many small studies of tests where the storage kind does not
    matter, an order of magnitude faster to open and write than SQLite (no schema migration)."""
    return str(tmp_path / "study.journal")


@pytest.fixture
def study_name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_spec(study_name: str) -> Callable[..., StudySpec]:
    def make(storage: str, **overrides: object) -> StudySpec:
        return parse_spec(tiny_yaml(study_name, storage, **overrides))

    return make
