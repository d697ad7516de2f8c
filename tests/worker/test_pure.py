"""The worker package's logic that needs no Redis: claim values, keys, owners, broker URLs."""

from __future__ import annotations

import os
import socket

import pytest

from automl.errors import UsageError
from automl.worker.celery_app import check_broker_url
from automl.worker.lease import (
    _claim_value,
    _parse_claim,
    _positive,
    claim_key,
    lease_key,
    new_owner,
)
from automl.worker.notices import events_key, problem_key


def test_a_claim_reads_back_what_was_written() -> None:
    claim = _parse_claim(_claim_value("host:1:cpu:ab", 30.0, "out of memory"))
    assert claim == {"owner": "host:1:cpu:ab", "lease_s": 30.0, "error": "out of memory"}


@pytest.mark.parametrize("raw", [None, b"", "not json", "[1, 2]", "3", b"\xff"])
def test_a_claim_that_is_not_an_object_reads_as_empty(raw: object) -> None:
    assert _parse_claim(raw) == {}


@pytest.mark.parametrize(
    ("value", "lease"),
    [
        (30, 30.0),
        (0.5, 0.5),
        (0, None),
        (-1, None),
        (True, None),
        ("30", None),
        (8 * 24 * 3600, None),
        (None, None),
    ],
)
def test_only_a_sane_lease_is_taken_from_a_claim(value: object, lease: float | None) -> None:
    assert _positive(value) == lease


def test_keys_are_per_study_and_trial_and_never_collide_across_kinds() -> None:
    keys = {f(uid, n) for uid in ("a", "b") for n in (0, 1) for f in (claim_key, lease_key)}
    keys |= {events_key("a"), events_key("b"), problem_key("a"), problem_key("b")}
    assert len(keys) == 12
    assert claim_key("a", 10) != claim_key("a1", 0)  # the separator keeps uid and number apart


def test_an_owner_names_the_host_process_and_slot_and_is_new_each_time() -> None:
    first, second = new_owner("cuda:1"), new_owner("cuda:1")
    host, pid, *slot, token = first.split(":")
    assert (host, int(pid), ":".join(slot)) == (socket.gethostname(), os.getpid(), "cuda:1")
    assert len(token) == 8 and first != second


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (None, "needs a broker"),
        ("", "needs a broker"),
        ("amqp://guest@localhost//", "is not a Redis URL"),
        ("redis://:p@ss@host:6379/0", "%40"),
    ],
)
def test_a_broker_url_is_checked_with_one_line_naming_the_field(
    url: str | None, words: str
) -> None:
    with pytest.raises(UsageError) as caught:
        check_broker_url(url, "--broker")
    message = str(caught.value)
    assert message.startswith("--broker") and words in message and "\n" not in message
    assert "ss@host" not in message  # no piece of the password


def test_a_good_broker_url_passes() -> None:
    assert check_broker_url("rediss://:p%40ss@host:6380/2") == "rediss://:p%40ss@host:6380/2"
