"""Claims and leases on the broker's Redis: liveness that works with every Optuna storage.

Optuna's own heartbeat exists only for RDB storages, so automl keeps two keys per trial on the
Redis that already serves as the broker:

``automl:claim:<study>:<number>``
    Set once, atomically (``SET NX``), by the worker that trains the trial. A second delivery of
    the same message finds it and does nothing, so a trial trains once whatever the broker does.
    It holds JSON ``{"owner": ..., "error": ...}``; a worker that gives up on a trial for an
    infrastructure reason writes the error there for the coordinator to report.
``automl:lease:<study>:<number>``
    Set together with the claim, with a TTL of ``lease_s``, and renewed every ``lease_s / 3``
    by a thread of the worker while the trial trains; deleted after the worker told the storage.

The coordinator reads them back (:meth:`LeaseStore.status`): no claim means the message waits
in the queue (not lost); a claim without a lease means the worker vanished (lost). A worker
that dies therefore shows within ``lease_s`` plus one poll. The claim outlives the lease by
:data:`CLAIM_TTL_S` after the last renewal, so that a message redelivered late still finds it.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from enum import Enum
from types import TracebackType
from typing import Any

import redis

log = logging.getLogger(__name__)

CLAIM_TTL_S = 24 * 3600
DEFAULT_LEASE_S = 30.0
LEASE_ENV = "AUTOML_LEASE_S"

# SET NX the claim and, only if that won, the lease: one step, so that nobody ever sees a claim
# without its lease and mistakes a trial that just started for a dead one.
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
  return 1
end
return 0
"""


class LeaseState(str, Enum):
    UNCLAIMED = "unclaimed"  # no worker took the trial yet: its message waits in the queue
    LIVE = "live"  # a worker holds it and renews its lease
    LAPSED = "lapsed"  # claimed, but the lease is gone: the worker died or gave up


@dataclass(frozen=True)
class LeaseStatus:
    state: LeaseState
    owner: str | None = None
    error: str | None = None  # why the worker gave up, when it said so


def claim_key(study_name: str, number: int) -> str:
    return f"automl:claim:{study_name}:{number}"


def lease_key(study_name: str, number: int) -> str:
    return f"automl:lease:{study_name}:{number}"


class LeaseStore:
    """Claims and leases of trials on one Redis (the broker's). Thread-safe (redis-py's pool)."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._claim_script = client.register_script(_CLAIM)

    @classmethod
    def from_url(cls, url: str) -> LeaseStore:
        return cls(redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10, health_check_interval=30))

    def ping(self) -> None:
        self._redis.ping()

    def claim(self, study_name: str, number: int, owner: str, lease_s: float) -> bool:
        """Take the trial for ``owner`` and start its lease; False when someone already has it."""
        value = json.dumps({"owner": owner, "error": None})
        keys = [claim_key(study_name, number), lease_key(study_name, number)]
        won = self._claim_script(keys=keys, args=[value, CLAIM_TTL_S, owner, int(lease_s * 1000)])
        return bool(won)

    def renew(self, study_name: str, number: int, owner: str, lease_s: float) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(lease_key(study_name, number), owner, px=int(lease_s * 1000))
        # A broker that restarted without persistence lost the claim: put it back, so that a
        # message sent again for this trial finds it taken instead of training it twice.
        pipe.set(claim_key(study_name, number), json.dumps({"owner": owner, "error": None}), nx=True, ex=CLAIM_TTL_S)
        pipe.expire(claim_key(study_name, number), CLAIM_TTL_S)
        pipe.execute()

    def run_id(self) -> str:
        """The Redis server's run id: it changes when the server restarts."""
        return str(self._redis.info("server")["run_id"])

    def release(self, study_name: str, number: int, owner: str, error: str | None = None) -> None:
        """End the lease (the trial is told, or given up with ``error``); the claim stays."""
        if error is not None:
            value = json.dumps({"owner": owner, "error": error})
            self._redis.set(claim_key(study_name, number), value, keepttl=True)
        self._redis.delete(lease_key(study_name, number))

    def unclaim(self, study_name: str, number: int) -> None:
        """Drop claim and lease of a trial that never started training, so another worker may."""
        self._redis.delete(lease_key(study_name, number), claim_key(study_name, number))

    def status(self, study_name: str, numbers: list[int]) -> dict[int, LeaseStatus]:
        """Claim and lease of each trial, read in one round trip."""
        pipe = self._redis.pipeline(transaction=False)
        for number in numbers:
            pipe.get(claim_key(study_name, number))
            pipe.exists(lease_key(study_name, number))
        replies = pipe.execute()
        result: dict[int, LeaseStatus] = {}
        for i, number in enumerate(numbers):
            raw, leased = replies[2 * i], replies[2 * i + 1]
            if raw is None:
                result[number] = LeaseStatus(LeaseState.UNCLAIMED)
                continue
            info = _parse_claim(raw)
            state = LeaseState.LIVE if leased else LeaseState.LAPSED
            result[number] = LeaseStatus(state, info.get("owner"), info.get("error"))
        return result

    def close(self) -> None:
        self._redis.close()


def _parse_claim(raw: Any) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


class LeaseRenewer:
    """Renews one trial's lease from a daemon thread while the trial trains.

    >>> with LeaseRenewer(store, "digits", 7, "host:123:gpu:0", lease_s=30):  # doctest: +SKIP
    ...     train()

    A renewal that fails (Redis unreachable) is logged and retried at the next tick; ``failed``
    tells the task afterwards, so that it counts as an infrastructure failure of this worker.
    """

    def __init__(self, store: LeaseStore, study_name: str, number: int, owner: str, lease_s: float) -> None:
        self._store = store
        self._study = study_name
        self._number = number
        self._owner = owner
        self._lease_s = lease_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{number}", daemon=True)
        self.failed: str | None = None

    def __enter__(self) -> LeaseRenewer:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=self._lease_s)

    def _run(self) -> None:
        # Three renewals per lease: one missed renewal (a slow Redis, a GC pause) does not
        # make a live trial look dead.
        while not self._stop.wait(self._lease_s / 3):
            try:
                self._store.renew(self._study, self._number, self._owner, self._lease_s)
            except redis.RedisError as exc:
                self.failed = f"lease renewal failed: {type(exc).__name__}: {exc}"
                log.warning("trial %d: %s", self._number, self.failed)
