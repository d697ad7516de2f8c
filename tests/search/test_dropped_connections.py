"""PostgreSQL drops the storage's connections (a restart, an idle timeout, a failover): the
next call works, with no ping before each transaction (``make_storage`` sets none)."""

from __future__ import annotations

import uuid

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState

from automl.search.storage import make_storage

pytestmark = pytest.mark.integration


def _drop_connections(postgres_url: str, application: str) -> int:
    engine = sqlalchemy.create_engine(
        postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    )
    try:
        with engine.begin() as conn:
            return len(
                conn.execute(
                    sqlalchemy.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                        "application_name = :a"
                    ),
                    {"a": application},
                ).all()
            )
    finally:
        engine.dispose()


def test_the_storage_goes_on_after_the_server_drops_its_connections(postgres_url: str) -> None:
    application = f"automl-drop-{uuid.uuid4().hex[:8]}"
    sep = "&" if "?" in postgres_url else "?"
    storage = make_storage(f"{postgres_url}{sep}application_name={application}")
    name = f"drop-{uuid.uuid4().hex[:8]}"
    study = optuna.create_study(study_name=name, storage=storage)
    study.tell(study.ask(), 1.0)

    assert _drop_connections(postgres_url, application) >= 1  # the pool held a live connection

    trial = study.ask()  # the first statement on a dropped connection fails; the call is run again
    study.tell(trial, 2.0)
    trials = optuna.load_study(
        study_name=name, storage=make_storage(postgres_url, cached=False)
    ).trials
    assert [(t.state, t.value) for t in trials] == [
        (TrialState.COMPLETE, 1.0),
        (TrialState.COMPLETE, 2.0),
    ]
    optuna.delete_study(study_name=name, storage=make_storage(postgres_url, cached=False))
