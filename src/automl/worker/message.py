"""The one message that sends a trial to a worker, on every backend: a Celery task's argument
and what the local backend writes down its pipe.

On the wire it is a JSON object with a version::

    {"v": 1, "study": "digits", "number": 7, "uid": "9f...", "digest": "a1..."}

:meth:`TrialJob.from_wire` also reads the shapes that earlier versions sent, so that trials
already queued on a fleet run after an upgrade: Celery's positional arguments ``[study,
number, uid, digest]`` (``uid`` and ``digest`` optional) and the local pipe's ``(study,
number)``. Upgrade the workers before the coordinators: an older worker does not read version 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

WIRE_VERSION = 1


@dataclass(frozen=True)
class TrialJob:
    """What crosses to a worker: ids only, never live objects."""

    study_name: str
    trial_number: int
    # The study's uid (automl.search.study.study_uid): unique to this storage and to this
    # incarnation of the study, so claims of a deleted same-named study never collide.
    study_uid: str = ""
    spec_digest: str = ""  # automl.search.study.spec_digest of the stored study file

    def to_wire(self) -> dict[str, Any]:
        """The message as JSON-ready data.

        >>> TrialJob("digits", 7, "u1", "d1").to_wire()
        {'v': 1, 'study': 'digits', 'number': 7, 'uid': 'u1', 'digest': 'd1'}
        """
        return {"v": WIRE_VERSION, "study": self.study_name, "number": self.trial_number,
                "uid": self.study_uid, "digest": self.spec_digest}  # fmt: skip

    @classmethod
    def from_wire(cls, message: Any) -> TrialJob | None:
        """The job a message holds, in any shape automl ever sent; None for anything else
        (a message from something that is not automl, or from a newer version).

        >>> TrialJob.from_wire({"v": 1, "study": "s", "number": 3, "uid": "u", "digest": "d"})
        TrialJob(study_name='s', trial_number=3, study_uid='u', spec_digest='d')
        >>> TrialJob.from_wire(["s", 3, "u"])  # an earlier coordinator's Celery arguments
        TrialJob(study_name='s', trial_number=3, study_uid='u', spec_digest='')
        >>> TrialJob.from_wire({"v": 2, "study": "s", "number": 3}) is None
        True
        """
        if isinstance(message, Sequence) and len(message) == 1 and isinstance(message[0], Mapping):
            message = message[0]  # the Celery task's one argument
        if isinstance(message, Mapping):
            if message.get("v") != WIRE_VERSION:
                return None
            fields = (
                message.get("study"),
                message.get("number"),
                message.get("uid", ""),
                message.get("digest", ""),
            )
        elif (
            isinstance(message, Sequence)
            and not isinstance(message, (str, bytes))
            and 2 <= len(message) <= 4
        ):
            study, number, uid, digest, *_ = (*message, "", "")
            fields = (study, number, uid or "", digest or "")
        else:
            return None
        study, number, uid, digest = fields
        if not (isinstance(study, str) and study and is_trial_number(number)):
            return None
        if not (isinstance(uid, str) and isinstance(digest, str)):
            return None
        return cls(study, number, uid, digest)


def is_trial_number(value: Any) -> TypeGuard[int]:
    """A trial number as a message may carry it: a whole number >= 0, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
