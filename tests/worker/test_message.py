"""The trial message: one type, versioned, and every shape automl ever sent still read."""

from __future__ import annotations

import json

import pytest

from automl.worker.message import WIRE_VERSION, TrialJob

JOB = TrialJob("digits", 7, "uid-1", "digest-1")


def test_the_message_goes_through_json_and_back() -> None:
    wire = json.loads(json.dumps([JOB.to_wire()]))  # as Celery's JSON serialiser carries it
    assert TrialJob.from_wire(wire) == JOB
    assert TrialJob.from_wire(JOB.to_wire()) == JOB  # as the local backend's pipe carries it
    assert JOB.to_wire()["v"] == WIRE_VERSION


@pytest.mark.parametrize(
    ("old", "job"),
    [
        (["digits", 7, "uid-1", "digest-1"], JOB),  # Celery arguments before the version
        (["digits", 7, "uid-1"], TrialJob("digits", 7, "uid-1")),
        (("digits", 7), TrialJob("digits", 7)),  # the local pipe before the version
        (["digits", 7, None, None], TrialJob("digits", 7)),
    ],
)
def test_earlier_shapes_are_read(old: object, job: TrialJob) -> None:
    assert TrialJob.from_wire(old) == job


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "digits",
        b"digits",
        [],
        ["digits"],
        ["digits", -1],
        ["digits", True],
        ["digits", "7"],
        ["", 7],
        ["digits", 7, 3],
        ["digits", 7, "u", "d", "extra"],
        {"study": "digits", "number": 7},
        {"v": WIRE_VERSION + 1, "study": "digits", "number": 7},
        {"v": WIRE_VERSION, "study": "digits"},
        [{"v": WIRE_VERSION, "study": "digits", "number": 7}, "second"],
    ],
)
def test_anything_else_is_not_a_trial(bad: object) -> None:
    assert TrialJob.from_wire(bad) is None
