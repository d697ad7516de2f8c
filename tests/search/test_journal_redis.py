"""The batched Redis journal writes what Optuna's own backend reads, and the other way round,
with one round trip per read and per append."""

from __future__ import annotations

import pickle

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalRedisBackend

from automl.search.journal_redis import BatchedJournalRedisBackend

pytestmark = pytest.mark.integration


def _study(storage: JournalStorage, name: str) -> optuna.Study:
    study = optuna.create_study(storage=storage, study_name=name, load_if_exists=True)
    for x in (0.25, 0.5):
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        trial.report(x, 1)
        trial.set_user_attr("note", {"x": x})
        study.tell(trial, x)
    return study


def _seen(storage: JournalStorage, name: str) -> list[tuple[int, object, object, object]]:
    study = optuna.load_study(study_name=name, storage=storage)
    return [(t.number, t.value, t.intermediate_values, t.user_attrs) for t in study.trials]


def test_each_reads_what_the_other_wrote(journal_redis_url: str, study_name: str) -> None:
    ours = JournalStorage(BatchedJournalRedisBackend(journal_redis_url))
    optunas = JournalStorage(JournalRedisBackend(journal_redis_url))
    _study(ours, study_name)
    _study(optunas, study_name)  # Optuna's backend appends to what ours wrote
    _study(JournalStorage(BatchedJournalRedisBackend(journal_redis_url)), study_name)
    fresh_ours = _seen(JournalStorage(BatchedJournalRedisBackend(journal_redis_url)), study_name)
    fresh_optunas = _seen(JournalStorage(JournalRedisBackend(journal_redis_url)), study_name)
    assert fresh_ours == fresh_optunas and len(fresh_ours) == 6


def test_one_round_trip_per_read_and_per_append(
    journal_redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = BatchedJournalRedisBackend(journal_redis_url, prefix="rt")
    sent: list[str] = []
    send = backend._client.execute_command

    def counted(*args: object, **kwargs: object) -> object:
        sent.append(str(args[0]))
        return send(*args, **kwargs)

    monkeypatch.setattr(backend._client, "execute_command", counted)
    backend.append_logs([{"op_code": 0, "worker_id": "w", "n": i} for i in range(50)])
    assert len(sent) <= 3  # SETNX, then the script (EVALSHA; EVAL the first time)
    sent.clear()
    assert [log["n"] for log in backend.read_logs(0)] == list(range(50))
    assert [log["n"] for log in backend.read_logs(45)] == list(range(45, 50))
    assert sent == ["GET", "MGET", "GET", "MGET"]  # Optuna's backend: a GET per entry
    assert [log["n"] for log in pickle.loads(pickle.dumps(backend)).read_logs(48)] == [48, 49]
