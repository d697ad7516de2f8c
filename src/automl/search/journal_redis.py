"""Optuna's Redis journal with one round trip per read and per write, not one per entry.

Optuna's ``JournalRedisBackend`` reads the journal one ``GET`` per entry and appends one
``EVAL`` per entry. Every storage call of every process first reads what the others appended
since, so on a fleet of W workers each call costs about W round trips (0.27 s of a worker's
CPU per trial at W = 32 on this machine, BENCHMARKS.md). This backend keeps Optuna's keys
and entries exactly (``<prefix>:log_number``, ``<prefix>:log:<n>``, one JSON entry each, the
snapshot key), so Optuna's own backend, optuna-dashboard and the ``optuna`` CLI read what it
writes and the other way round (tests/search/test_journal_redis.py), but reads a range of
entries with one ``MGET`` and appends a batch with one script.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator
from typing import Any

import redis
from optuna.storages.journal import JournalRedisBackend

READ_CHUNK = 2000  # entries per MGET: large enough to amortise, small enough to stream
_APPEND = """
local prefix = ARGV[1]
for i = 2, #ARGV do
  local n = redis.call('incr', prefix .. ':log_number')
  redis.call('set', prefix .. ':log:' .. n, ARGV[i])
end
return 0
"""


class BatchedJournalRedisBackend(JournalRedisBackend):
    """:class:`JournalRedisBackend` (standalone Redis) with batched reads and appends."""

    def __init__(self, url: str, prefix: str = "") -> None:
        super().__init__(url, use_cluster=False, prefix=prefix)
        self._url_ = url
        self._prefix_ = prefix
        self._client = redis.Redis.from_url(url)
        self._append = self._client.register_script(_APPEND)

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state.pop("_client", None)
        state.pop("_append", None)
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._client = redis.Redis.from_url(self._url_)
        self._append = self._client.register_script(_APPEND)

    def ping(self) -> None:
        self._client.ping()

    def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
        last = self._client.get(f"{self._prefix_}:log_number")
        if last is None:
            return
        last_number = int(last)
        for start in range(log_number_from, last_number + 1, READ_CHUNK):
            numbers = range(start, min(start + READ_CHUNK, last_number + 1))
            raw = self._client.mget([f"{self._prefix_}:log:{n}" for n in numbers])
            for number, entry in zip(numbers, raw, strict=True):
                if entry is None:  # counted, not written yet (cannot happen with the script)
                    entry = self._wait_for(number)
                try:
                    yield json.loads(entry)
                except json.JSONDecodeError:
                    if number != last_number:
                        raise

    def _wait_for(self, number: int) -> bytes:
        pause = 0.1
        while True:
            entry = self._client.get(f"{self._prefix_}:log:{number}")
            if isinstance(entry, bytes):
                return entry
            time.sleep(pause)
            pause = min(pause * 2, 10.0)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        if logs:
            self._client.setnx(f"{self._prefix_}:log_number", -1)
            self._append(args=[self._prefix_, *(json.dumps(log) for log in logs)])
