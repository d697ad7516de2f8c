"""Claims and leases on the real Redis: every operation checks its owner (compare-and-set)."""

from __future__ import annotations

import json
import uuid

import pytest
import redis

from automl.worker.lease import LeaseState, LeaseStore, claim_key, lease_key, new_owner

pytestmark = pytest.mark.integration


@pytest.fixture
def store(broker_url: str) -> LeaseStore:
    return LeaseStore.from_url(broker_url)


def test_only_the_owner_renews_releases_or_drops_a_claim(
    store: LeaseStore, broker_url: str
) -> None:
    uid, live, late = uuid.uuid4().hex, new_owner("cpu:0"), new_owner("cpu:1")
    assert live != late
    assert store.claim(uid, 3, live, lease_s=30)
    assert not store.claim(uid, 3, late, lease_s=30)  # the duplicate delivery loses
    # The duplicate's error path must not touch what the live owner holds.
    assert not store.unclaim(uid, 3, late)
    assert not store.release(uid, 3, late, 30, error="worker failed: StorageError")
    assert not store.renew(uid, 3, late, 30)
    status = store.status(uid, [3])[3]
    assert (status.state, status.owner, status.error, status.lease_s) == (
        LeaseState.LIVE,
        live,
        None,
        30,
    )
    # The owner's own operations work.
    assert store.renew(uid, 3, live, 30)
    assert store.release(uid, 3, live, 30, error="worker failed: boom")
    status = store.status(uid, [3])[3]
    assert (status.state, status.error) == (LeaseState.LAPSED, "worker failed: boom")
    assert store.claim(uid, 4, live, 30) and store.unclaim(uid, 4, live)
    assert store.status(uid, [4])[4].state == LeaseState.UNCLAIMED


def test_renewal_puts_back_a_claim_the_broker_lost(store: LeaseStore, broker_url: str) -> None:
    uid, owner = uuid.uuid4().hex, new_owner("gpu:0")
    assert store.claim(uid, 0, owner, 9)
    client = redis.Redis.from_url(broker_url)
    client.delete(claim_key(uid, 0), lease_key(uid, 0))  # as a broker restarted without persistence
    assert store.renew(uid, 0, owner, 9)
    assert json.loads(client.get(claim_key(uid, 0)))["owner"] == owner
    assert store.status(uid, [0])[0].state == LeaseState.LIVE
    assert not store.claim(uid, 0, new_owner("gpu:1"), 9)  # a message sent again finds it taken


def test_claims_are_per_study_uid(store: LeaseStore) -> None:
    old, new = uuid.uuid4().hex, uuid.uuid4().hex  # one study name, deleted and created again
    assert store.claim(old, 0, new_owner("cpu:0"), 30)
    assert store.status(new, [0])[0].state == LeaseState.UNCLAIMED
    assert store.claim(new, 0, new_owner("cpu:0"), 30)


def test_a_claim_written_by_someone_else_is_read_safely(store: LeaseStore, broker_url: str) -> None:
    uid = uuid.uuid4().hex
    redis.Redis.from_url(broker_url).set(
        claim_key(uid, 1), json.dumps({"owner": 7, "lease_s": -1, "error": ["x"]})
    )
    status = store.status(uid, [1])[1]
    assert (status.state, status.owner, status.lease_s, status.error) == (
        LeaseState.LAPSED,
        None,
        None,
        None,
    )
    assert not store.renew(uid, 1, new_owner("cpu:0"), 30)
