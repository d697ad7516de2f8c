"""What workers tell the coordinator on the broker's Redis, besides claims and leases.

Two keys per study, keyed by its uid like the claims (:mod:`automl.worker.lease`):

``automl:events:<uid>``
    A list: a worker that ended a trial (told the storage) pushes its number, and the
    coordinator blocks on the list (:meth:`Notices.take_events`), so it learns of an end
    within a round trip. A hint, not the record: the coordinator still reads the trial's state
    from the storage, and reads back every trial in flight now and then in case one was lost.
``automl:problem:<uid>``
    Why a worker cannot run the study's trials at all (its storage lacks the study): the
    coordinator stops with that line.

Both expire after :data:`NOTICE_TTL_S` of silence.
"""

from __future__ import annotations

from typing import Any

import redis

NOTICE_TTL_S = 24 * 3600


def events_key(study_uid: str) -> str:
    """The list a worker pushes a trial's number to once it told the storage (see ``announce``)."""
    return f"automl:events:{study_uid}"


def problem_key(study_uid: str) -> str:
    """Where a worker that cannot run the study's trials at all says why (see
    ``report_problem``)."""
    return f"automl:problem:{study_uid}"


class Notices:
    """Announced ends and worker problems on one Redis (the broker's). Thread-safe (redis-py's
    pool)."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def announce(self, study_uid: str, number: int) -> None:
        """Tell the coordinator that trial ``number`` ended (it is told to the storage already).

        A hint, not the record: a lost announcement costs the coordinator one fallback poll.
        """
        pipe = self._redis.pipeline(transaction=False)
        pipe.rpush(events_key(study_uid), number)
        pipe.expire(events_key(study_uid), NOTICE_TTL_S)
        pipe.execute()

    def take_events(self, study_uids: list[str], block_s: float) -> list[tuple[str, int]]:
        """Announced ends of trials, (uid, number), waiting up to ``block_s`` for the first."""
        keys = {events_key(uid): uid for uid in study_uids}
        if not keys:
            return []
        first = self._redis.blpop(list(keys), timeout=block_s) if block_s > 0 else None
        found: list[tuple[str, Any]] = []
        if first is not None:
            key, value = first
            found.append((keys[key.decode() if isinstance(key, bytes) else key], value))
        pipe = self._redis.pipeline(transaction=True)
        for key in keys:
            pipe.lrange(key, 0, -1)
            pipe.delete(key)
        replies = pipe.execute()
        for i, key in enumerate(keys):
            found += [(keys[key], value) for value in replies[2 * i]]
        events = []
        for uid, value in found:
            try:
                events.append((uid, int(value)))
            except (TypeError, ValueError):
                continue  # anyone can write to the broker: not a trial number, not an event
        return events

    def report_problem(self, study_uid: str, text: str) -> None:
        """Tell the study's coordinator that this worker cannot run its trials, and why."""
        self._redis.set(problem_key(study_uid), text, ex=NOTICE_TTL_S)

    def problem(self, study_uid: str) -> str | None:
        raw = self._redis.get(problem_key(study_uid))
        return raw.decode(errors="replace") if isinstance(raw, bytes) else raw

    def clear_problem(self, study_uid: str) -> None:
        self._redis.delete(problem_key(study_uid))
