"""Checkpoints in the trainer: a trial stopped after any epoch resumes to exactly the same
result."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from automl.errors import TrialPreempted
from automl.search.checkpoints import AtomicFileSystemStore, CorruptCheckpoint, LineageCheckpoint
from automl.training import Checkpoints, NullReporter, cross_validate
from automl.training import checkpoint as checkpoint_module
from tests.training.helpers import make_spec

# Dropout draws from torch's global RNG, momentum and a schedule carry state across epochs,
# early stopping keeps a reference: everything a resume has to restore.
PARAMS = {
    "lr": 0.05,
    "dropout": 0.3,
    "optimizer": "adamw",
    "schedule": "cosine",
    "depth": 2,
    "width": 16,
}
PATHS = {"stacked": {}, "loop": {"batch_norm": True}}


class Crash(Exception):
    pass


class CrashAfter(NullReporter):
    """Dies (as a killed process would) when ``epoch`` is reported, before it is checkpointed."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def report(self, epoch: int, value: float) -> None:
        super().report(epoch, value)
        if epoch == self.epoch:
            raise Crash


def slot(tmp_path: Path) -> LineageCheckpoint:
    return LineageCheckpoint(AtomicFileSystemStore(tmp_path / "ckpt"), "s-trial-0.ckpt")


@pytest.mark.parametrize("path", ["stacked", "loop"])
def test_a_trial_killed_mid_run_resumes_to_the_same_fold_scores(tmp_path: Path, path: str) -> None:
    spec = make_spec("sklearn:wine", epochs=6, trainer={"early_stopping": {"patience": 10}})
    params = PARAMS | PATHS[path]
    whole = cross_validate(spec, params, NullReporter())
    assert whole.path == path

    first = Checkpoints(slot(tmp_path), every_epochs=1)
    with pytest.raises(Crash):
        cross_validate(spec, params, CrashAfter(5), checkpoints=first)  # epochs 1-4 checkpointed
    assert first.saved_epoch == 4

    second = Checkpoints(slot(tmp_path), every_epochs=1)
    reporter = NullReporter()
    resumed = cross_validate(spec, params, reporter, checkpoints=second)
    assert second.resumed_from_epoch == 4
    assert list(reporter.values) == [1, 2, 3, 4, 5, 6]  # the curve so far is carried over first
    assert resumed.fold_scores == whole.fold_scores  # exactly: same seeds, same state
    assert resumed.curve == whole.curve and resumed.train_loss == whole.train_loss
    assert resumed.health == whole.health and resumed.epochs_run == 6


def test_checkpoints_follow_every_epochs_and_never_save_the_last_epoch(tmp_path: Path) -> None:
    saved: list[int] = []
    ckpt = Checkpoints(slot(tmp_path), every_epochs=2, on_saved=saved.append)
    cross_validate(make_spec(epochs=5), PARAMS, NullReporter(), checkpoints=ckpt)
    assert saved == [2, 4]


def test_checkpoints_by_time(tmp_path: Path) -> None:
    ticks = iter(range(0, 1000, 25))  # each look at the clock is 25 s later
    saved: list[int] = []
    ckpt = Checkpoints(slot(tmp_path), every_s=60, on_saved=saved.append, clock=lambda: next(ticks))
    cross_validate(make_spec(epochs=8), PARAMS, NullReporter(), checkpoints=ckpt)
    assert saved == [3, 6]  # due 75 s after the start; the save itself reads the clock once more


@pytest.mark.parametrize("damage", ["truncate", "flip", "foreign"])
def test_a_corrupt_checkpoint_means_a_fresh_start_with_one_warning(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    spec = make_spec("sklearn:wine", epochs=4)
    whole = cross_validate(spec, PARAMS, NullReporter())
    with pytest.raises(Crash):
        cross_validate(
            spec, PARAMS, CrashAfter(3), checkpoints=Checkpoints(slot(tmp_path), every_epochs=1)
        )
    file = tmp_path / "ckpt" / "s-trial-0.ckpt"
    blob = file.read_bytes()
    file.write_bytes(
        {
            "truncate": blob[: len(blob) // 2],
            "flip": blob[:-10] + bytes(10),
            "foreign": b"PK\x03\x04 not ours",
        }[damage]
    )
    with pytest.raises(CorruptCheckpoint):
        slot(tmp_path).get()
    ckpt = Checkpoints(slot(tmp_path), every_epochs=1)
    with caplog.at_level(logging.WARNING):
        result = cross_validate(spec, PARAMS, NullReporter(), checkpoints=ckpt)
    assert ckpt.resumed_from_epoch == 0 and result.fold_scores == whole.fold_scores
    assert [r.message for r in caplog.records if "checkpoint not used" in r.message][:1]


def test_a_checkpoint_of_other_params_is_not_used(tmp_path: Path) -> None:
    spec = make_spec(epochs=4)
    with pytest.raises(Crash):
        cross_validate(
            spec, PARAMS, CrashAfter(3), checkpoints=Checkpoints(slot(tmp_path), every_epochs=1)
        )
    ckpt = Checkpoints(slot(tmp_path), every_epochs=1)
    cross_validate(spec, PARAMS | {"lr": 0.01}, NullReporter(), checkpoints=ckpt)
    assert ckpt.resumed_from_epoch == 0


def test_preemption_saves_at_once_and_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class PreemptAt(NullReporter):
        def report(self, epoch: int, value: float) -> None:
            super().report(epoch, value)
            if epoch == 2:
                checkpoint_module.request_preemption()

    monkeypatch.setattr(checkpoint_module, "_preempt", type(checkpoint_module._preempt)())
    ckpt = Checkpoints(slot(tmp_path), every_s=3600)  # not due by time: saved because preempted
    with pytest.raises(TrialPreempted) as stopped:
        cross_validate(make_spec(epochs=5), PARAMS, PreemptAt(), checkpoints=ckpt)
    assert stopped.value.epoch == 2 and ckpt.saved_epoch == 2


def test_the_store_replaces_a_checkpoint_whole_and_removes_it(tmp_path: Path) -> None:
    s = slot(tmp_path)
    s.put(b"one")
    s.put(b"two")
    assert s.get() == b"two"
    # no partial file left
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] == ["s-trial-0.ckpt"]
    partial = tmp_path / "ckpt" / ".s-trial-0.ckpt.partial"
    partial.write_bytes(b"a writer killed mid-write left this")
    s.remove()
    s.remove()  # removing twice is fine
    assert s.get() is None and not list((tmp_path / "ckpt").iterdir())
