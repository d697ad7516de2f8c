"""Claims and leases on the broker's Redis: liveness that works with every Optuna storage.

Optuna's own heartbeat exists only for RDB storages, so automl keeps two keys per trial on the
Redis that already serves as the broker. Both are keyed by the study's *uid* (a random id
stored on the study when automl creates it, :func:`automl.search.study.study_uid`), not by its
name: a study deleted and created again under the same name, or a same-named study in another
storage on the same broker, never sees the claims of the other.

``automl:claim:<uid>:<number>``
    Set once, atomically (``SET NX``), by the delivery that trains the trial. A second delivery
    of the same message finds it and does nothing, so a trial trains once whatever the broker
    does. It holds JSON ``{"owner": ..., "lease_s": ..., "error": ...}``: the owner is unique to
    one delivery (host, pid, slot and a random token), ``lease_s`` is the lease that worker
    keeps (the coordinator times its grace periods with it), and ``error`` is why a worker gave
    the trial up, for the coordinator to report.
``automl:lease:<uid>:<number>``
    Set together with the claim, holding the owner, with a TTL of ``lease_s``; renewed every
    ``lease_s / 3`` by a thread of the worker while the trial trains
    (:class:`~automl.worker.renewer.LeaseRenewer`); deleted after the worker told the storage.

Every operation that changes a claim or a lease checks the owner inside one Lua script
(compare-and-set, compare-and-delete), so a delivery only ever renews, releases or drops what
it won itself.

The coordinator reads them back (:meth:`LeaseStore.status`): no claim means the message has
not been taken (it waits in the queue, or was lost); a claim without a lease means the worker
vanished (lost). The claim outlives the lease by :data:`CLAIM_TTL_S` after the last renewal,
so that a message redelivered late still finds it. What else workers tell the coordinator on
the broker (a trial ended; a study they cannot run) is in :mod:`automl.worker.notices`.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from dataclasses import dataclass
from enum import Enum
from typing import Any

import redis

CLAIM_TTL_S = 24 * 3600
# The errors that mean the broker's Redis cannot be reached now (down, restarting, loading).
BROKER_DOWN = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
    ConnectionError,
    OSError,
)

# The claim's owner, read from its JSON; nil when the claim is missing or not ours to parse.
_OWNER_OF = """
local function owner_of(raw)
  if not raw then return nil end
  local ok, value = pcall(cjson.decode, raw)
  if ok and type(value) == 'table' then return value['owner'] end
  return nil
end
"""

# SET NX the claim and, only if that won, the lease: one step, so that nobody ever sees a claim
# without its lease and mistakes a trial that just started for a dead one.
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
  return 1
end
return 0
"""

# Renew the lease of the claim's owner. A claim that is gone (the broker restarted without
# persistence) is put back, so that a message sent again for this trial finds it taken instead
# of training it twice. 1: renewed; 0: someone else owns the trial now.
_RENEW = (
    _OWNER_OF
    + """
local raw = redis.call('GET', KEYS[1])
if raw and owner_of(raw) ~= ARGV[1] then return 0 end
if raw then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[4])
return 1
"""
)

# End the owner's lease, leaving the claim (with the error, when one is given). 1: done.
_RELEASE = (
    _OWNER_OF
    + """
local raw = redis.call('GET', KEYS[1])
local mine = raw and owner_of(raw) == ARGV[1]
if mine and ARGV[2] ~= '' then redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
if mine then return 1 end
return 0
"""
)

# Drop the owner's claim and lease (the trial never started training). 1: done.
_UNCLAIM = (
    _OWNER_OF
    + """
local raw = redis.call('GET', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
if raw and owner_of(raw) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""
)


class LeaseState(str, Enum):
    UNCLAIMED = (
        "unclaimed"  # no worker took the trial yet: its message waits in the queue (or was lost)
    )
    LIVE = "live"  # a worker holds it and renews its lease
    LAPSED = (
        "lapsed"  # claimed, but the lease is gone: the worker died, gave up, or could not renew
    )


@dataclass(frozen=True)
class LeaseStatus:
    state: LeaseState
    owner: str | None = None
    error: str | None = None  # why the worker gave up, when it said so
    lease_s: float | None = None  # the lease its worker keeps, when the claim says so


def claim_key(study_uid: str, number: int) -> str:
    return f"automl:claim:{study_uid}:{number}"


def lease_key(study_uid: str, number: int) -> str:
    return f"automl:lease:{study_uid}:{number}"


def new_owner(slot: str) -> str:
    """An owner name unique to one delivery: host, pid, slot and a random token."""
    return f"{socket.gethostname()}:{os.getpid()}:{slot}:{secrets.token_hex(4)}"


class LeaseStore:
    """Claims and leases of trials on one Redis (the broker's). Thread-safe (redis-py's pool)."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._claim = client.register_script(_CLAIM)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._unclaim = client.register_script(_UNCLAIM)

    @classmethod
    def from_url(cls, url: str) -> LeaseStore:
        return cls(
            redis.Redis.from_url(
                url, socket_timeout=10, socket_connect_timeout=10, health_check_interval=30
            )
        )

    @property
    def client(self) -> redis.Redis:
        return self._redis

    def ping(self) -> None:
        self._redis.ping()

    def claim(self, study_uid: str, number: int, owner: str, lease_s: float) -> bool:
        """Take the trial for ``owner`` and start its lease; False when someone already has it."""
        keys = [claim_key(study_uid, number), lease_key(study_uid, number)]
        won = self._claim(
            keys=keys, args=[_claim_value(owner, lease_s), CLAIM_TTL_S, owner, _ms(lease_s)]
        )
        return bool(won)

    def renew(self, study_uid: str, number: int, owner: str, lease_s: float) -> bool:
        """Extend ``owner``'s lease (putting a vanished claim back); False if another owns the
        trial."""
        keys = [claim_key(study_uid, number), lease_key(study_uid, number)]
        return bool(
            self._renew(
                keys=keys, args=[owner, _claim_value(owner, lease_s), CLAIM_TTL_S, _ms(lease_s)]
            )
        )

    def release(
        self, study_uid: str, number: int, owner: str, lease_s: float, error: str | None = None
    ) -> bool:
        """End ``owner``'s lease (the trial is told, or given up with ``error``); the claim
        stays."""
        value = _claim_value(owner, lease_s, error) if error is not None else ""
        keys = [claim_key(study_uid, number), lease_key(study_uid, number)]
        return bool(self._release(keys=keys, args=[owner, value]))

    def unclaim(self, study_uid: str, number: int, owner: str) -> bool:
        """Drop ``owner``'s claim and lease of a trial it never trained, so another worker may."""
        keys = [claim_key(study_uid, number), lease_key(study_uid, number)]
        return bool(self._unclaim(keys=keys, args=[owner]))

    def run_id(self) -> str:
        """The Redis server's run id: it changes when the server restarts."""
        return str(self._redis.info("server")["run_id"])

    def status(self, study_uid: str, numbers: list[int]) -> dict[int, LeaseStatus]:
        """Claim and lease of each trial, read in one round trip."""
        pipe = self._redis.pipeline(transaction=False)
        for number in numbers:
            pipe.get(claim_key(study_uid, number))
            pipe.exists(lease_key(study_uid, number))
        replies = pipe.execute()
        result: dict[int, LeaseStatus] = {}
        for i, number in enumerate(numbers):
            raw, leased = replies[2 * i], replies[2 * i + 1]
            if raw is None:
                result[number] = LeaseStatus(LeaseState.UNCLAIMED)
                continue
            info = _parse_claim(raw)
            state = LeaseState.LIVE if leased else LeaseState.LAPSED
            result[number] = LeaseStatus(
                state,
                _text(info.get("owner")),
                _text(info.get("error")),
                _positive(info.get("lease_s")),
            )
        return result

    def close(self) -> None:
        self._redis.close()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _claim_value(owner: str, lease_s: float, error: str | None = None) -> str:
    return json.dumps({"owner": owner, "lease_s": lease_s, "error": error})


def _parse_claim(raw: Any) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _positive(value: Any) -> float | None:
    # Whoever can write to the broker can write a claim: a lease that is not a sane number is
    # absent.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if 0 < value < 7 * 24 * 3600 else None
