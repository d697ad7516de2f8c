"""A trial's whole training state, saved every ``trainer.checkpoint_every`` and restored on retry.

What is saved after an epoch: every fold model, optimiser, LR schedule and grad scaler (the
engine's ``state_dict``), the fold shuffling generators and torch's global RNG (dropout draws
from it), the curves, the health log and the early-stopping state. Restoring all of it makes a
resumed trial on CPU end with exactly the fold scores of an uninterrupted run.

The bytes go through :class:`automl.search.checkpoints.LineageCheckpoint` (atomic, checksummed).
A checkpoint that cannot be read, or that belongs to other params or another engine path, is
ignored with one warning: the trial starts fresh, it never fails for it.

Preemption: :func:`request_preemption` (called from a SIGTERM handler, or by Celery's warm
shutdown) makes the trial save at the end of the current epoch and stop with
:class:`~automl.errors.TrialPreempted`.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import torch

from automl.errors import TrialPreempted

log = logging.getLogger(__name__)

FORMAT = 1
_preempt = threading.Event()


def request_preemption() -> None:
    """Ask the trial running in this process to checkpoint and stop after its current epoch."""
    _preempt.set()


def preemption_requested() -> bool:
    return _preempt.is_set()


class CheckpointBlob(Protocol):
    def put(self, body: bytes) -> None: ...
    def get(self) -> bytes | None: ...
    def remove(self) -> None: ...


def fresh_start(why: str) -> None:
    """One warning: a checkpoint was there but is not used; the trial starts from scratch."""
    log.warning("checkpoint not used, starting fresh: %s", " ".join(why.split())[:300])


def read_checkpoint(blob: CheckpointBlob) -> Any | None:
    """The blob's checkpoint as ``torch.load`` reads it, or None when there is none or it cannot
    be read (with one warning: an unreadable checkpoint means a fresh start, never a failure).

    ``weights_only``: a checkpoint store shared by a fleet must not be a way to run code on
    every worker, so a checkpoint holds tensors, numbers, strings, lists and dicts."""
    try:
        body = blob.get()
        return (
            None
            if body is None
            else torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
        )
    except Exception as exc:  # noqa: BLE001 - torn, foreign, or a store that is down
        fresh_start(str(exc))
        return None


def write_checkpoint(blob: CheckpointBlob, body: bytes, epoch: int) -> bool:
    """Put ``body``, saved after ``epoch`` (your own code: its last reported step), in the blob;
    False, with one warning, when the store refuses it: a failed save must not fail the trial
    (the previous checkpoint stays)."""
    try:
        blob.put(body)
    except Exception as exc:  # noqa: BLE001
        log.warning(
            "could not save the checkpoint of epoch %d: %s", epoch, " ".join(str(exc).split())[:300]
        )
        return False
    return True


def torch_bytes(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


class Checkpoints:
    """When to save, and the saving and loading of one trial's state.

    ``every_epochs`` or ``every_s`` (one of them) says how often; ``blob`` is where, or None
    when checkpoints are off (then only preemption is honoured, without a save).
    ``on_saved(epoch)`` is told after each save (the worker records it on the trial).
    """

    def __init__(
        self,
        blob: CheckpointBlob | None,
        *,
        every_epochs: int | None = None,
        every_s: float | None = None,
        on_saved: Callable[[int], None] = lambda epoch: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.blob, self.every_epochs, self.every_s = blob, every_epochs, every_s
        self._on_saved, self._clock = on_saved, clock
        self._last = clock()
        self.resumed_from_epoch = 0
        self.saved_epoch = 0

    def load(self, identity: Mapping[str, Any]) -> dict[str, Any] | None:
        """The saved state of a trial with this ``identity`` (params, engine path, the study
        file's training sections), or None: a fresh start."""
        state = read_checkpoint(self.blob) if self.blob is not None else None
        if state is None:
            return None
        problem = _mismatch(state, identity)
        if problem:
            fresh_start(problem)
            return None
        self.resumed_from_epoch = int(state["epoch"])
        return state

    def after_epoch(
        self, epoch: int, last_epoch: int, snapshot: Callable[[], dict[str, Any]]
    ) -> None:
        """Save when due (or when preemption was asked); then stop if preemption was asked.
        After the last epoch the trial is done: it ends normally, preempted or not."""
        if epoch >= last_epoch:
            return
        preempt = preemption_requested()
        if self.blob is not None and (preempt or self._due(epoch)):
            self._save(epoch, snapshot())
        if preempt:
            raise TrialPreempted(self.saved_epoch)

    def remove(self) -> None:
        if self.blob is not None:
            self.blob.remove()

    def _due(self, epoch: int) -> bool:
        if self.every_epochs is not None:
            return epoch % self.every_epochs == 0
        return self.every_s is not None and self._clock() - self._last >= self.every_s

    def _save(self, epoch: int, state: dict[str, Any]) -> None:
        assert self.blob is not None
        if not write_checkpoint(self.blob, torch_bytes({"format": FORMAT, **state}), epoch):
            return
        self._last = self._clock()
        self.saved_epoch = epoch
        self._on_saved(epoch)


def _mismatch(state: Any, identity: Mapping[str, Any]) -> str | None:
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        return "it was written by another version of automl"
    saved = state.get("identity")
    if not isinstance(saved, dict):
        return "it does not say which trial it belongs to"
    if saved.get("params") != identity.get("params"):
        return "it belongs to other params"
    if saved.get("path") != identity.get("path"):
        return (
            f"it was written by the {saved.get('path')} engine, and this trial runs the "
            f"{identity.get('path')} engine"
        )
    if saved != dict(identity):
        return "the study file's data, model or trainer changed since it was saved"
    return None
