"""The program protocol with real processes: JSON lines in, SIGTERM out, folders kept."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from automl.errors import TrialPreempted, TrialPruned
from automl.search.checkpoints import AtomicFileSystemStore, LineageCheckpoint
from automl.settings import Settings
from automl.studyfile.schema import TrainCommand
from automl.training import checkpoint as checkpoint_module
from automl.training.reporter import NullReporter
from automl.usercode.program import ProgramFailed, ProgramOutOfMemory, ProgramTrial


class PruneAt(NullReporter):
    def __init__(self, step: int) -> None:
        super().__init__()
        self.step, self.decided_at = step, 0.0

    def should_prune(self) -> bool:
        if max(self.values, default=0) >= self.step:
            self.decided_at = time.monotonic()
            return True
        return False


def program(tmp_path: Path, body: str, timeout: float | None = None) -> TrainCommand:
    script = tmp_path / "prog.py"
    script.write_text("import json, os, sys, time\n" + textwrap.dedent(body))
    return TrainCommand(command=[sys.executable, str(script)], timeout=timeout)


def test_params_arrive_as_arguments_and_json_and_values_come_back(tmp_path: Path) -> None:
    train = program(
        tmp_path,
        """
        params = json.loads(os.environ["AUTOML_PARAMS"])
        assert sys.argv[1:] == ["--lr", "0.5", "--name", "x"], sys.argv
        assert os.environ["AUTOML_TRIAL_NUMBER"] == "7"
        print("a line of its own")
        print("{not json")
        for step in (1, 2):
            print(json.dumps({"step": step, "value": params["lr"] * step}))
        print(json.dumps({"value": 0.75}))
    """,
    )
    reporter = NullReporter()
    assert ProgramTrial(train, {"lr": 0.5, "name": "x"}, 7, reporter).run() == 0.75
    assert reporter.values == {1: 0.5, 2: 1.0}


def test_the_pruned_program_is_stopped_within_a_second(tmp_path: Path) -> None:
    train = program(
        tmp_path,
        """
        print(json.dumps({"step": 1, "value": 1.0}), flush=True)
        time.sleep(60)
    """,
    )
    reporter = PruneAt(1)
    with pytest.raises(TrialPruned):
        ProgramTrial(train, {}, 0, reporter).run()
    assert time.monotonic() - reporter.decided_at < 1.0


def test_a_program_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    train = program(
        tmp_path,
        """
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print(json.dumps({"step": 1, "value": 1.0}), flush=True)
        time.sleep(60)
    """,
    )
    started = time.monotonic()
    with pytest.raises(TrialPruned):
        ProgramTrial(train, {}, 0, PruneAt(1), settings=Settings(stop_grace_s=0.5)).run()
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("body", "error", "reason"),
    [
        (
            "print('x', file=sys.stderr)\nprint('ValueError: bad batch', "
            "file=sys.stderr)\nsys.exit(2)",
            ProgramFailed,
            "the program exited with code 2: x | ValueError: bad batch",
        ),
        ("print(json.dumps({'step': 1, 'value': 1.0}))", ProgramFailed, "printed no final value"),
        (
            "print('RuntimeError: CUDA out of memory.', file=sys.stderr)\nsys.exit(1)",
            ProgramOutOfMemory,
            "CUDA out of memory",
        ),
    ],
)
def test_failures_carry_their_reason(tmp_path: Path, body: str, error: type, reason: str) -> None:
    with pytest.raises(error, match=reason.replace("|", r"\|").replace(".", r"\.")):
        ProgramTrial(program(tmp_path, body), {}, 0, NullReporter()).run()


def test_the_timeout_stops_the_program(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ProgramFailed, match="timed out after 1s"):
        ProgramTrial(program(tmp_path, "time.sleep(60)", timeout=1.0), {}, 0, NullReporter()).run()
    assert time.monotonic() - started < 5


def test_a_program_that_cannot_start_fails_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(ProgramFailed, match="cannot start"):
        ProgramTrial(TrainCommand(command=[str(tmp_path / "missing")]), {}, 0, NullReporter()).run()


COUNTING = """
    folder = os.environ["AUTOML_CHECKPOINT_DIR"]
    path = os.path.join(folder, "n.txt")
    start = int(open(path).read()) if os.path.exists(path) else 0
    for step in range(start + 1, 6):
        time.sleep(0.1)  # a step trains for a while: the worker copies the folder meanwhile
        open(path, "w").write(str(step))
        print(json.dumps({"step": step, "value": float(step)}), flush=True)
        if step == 3 and os.environ.get("CRASH"):
            os._exit(9)
    print(json.dumps({"value": float(start)}))
"""


def test_the_checkpoint_folder_comes_back_on_a_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slot = LineageCheckpoint(AtomicFileSystemStore(tmp_path / "store"), "k")
    saved: list[int] = []
    monkeypatch.setenv("CRASH", "1")
    with pytest.raises(ProgramFailed, match="code 9"):
        ProgramTrial(
            program(tmp_path, COUNTING),
            {},
            0,
            NullReporter(),
            slot,
            identity="a",
            on_saved=saved.append,
        ).run()
    assert saved == [1, 2, 3]
    monkeypatch.delenv("CRASH")
    reporter = NullReporter()
    again = ProgramTrial(program(tmp_path, COUNTING), {}, 1, reporter, slot, identity="a")
    assert again.run() == 3.0  # it found n.txt at 3
    assert again.resumed_from_step == 3 and reporter.values == {
        1: 1.0,
        2: 2.0,
        3: 3.0,
        4: 4.0,
        5: 5.0,
    }
    other = ProgramTrial(program(tmp_path, COUNTING), {}, 2, NullReporter(), slot, identity="b")
    assert other.run() == 0.0 and other.resumed_from_step == 0  # another identity: a fresh start


def test_preemption_stops_the_program_and_saves_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint_module, "_preempt", type(checkpoint_module._preempt)())
    slot = LineageCheckpoint(AtomicFileSystemStore(tmp_path / "store"), "k")
    train = program(
        tmp_path,
        """
        import signal
        folder = os.environ["AUTOML_CHECKPOINT_DIR"]

        def on_term(*_):  # a program that saves its state when told to stop
            open(os.path.join(folder, "late.txt"), "w").write("written on SIGTERM")
            sys.exit(0)

        signal.signal(signal.SIGTERM, on_term)
        print(json.dumps({"step": 1, "value": 1.0}), flush=True)
        time.sleep(60)
    """,
    )

    class PreemptAfterFirst(NullReporter):
        def report(self, epoch: int, value: float) -> None:
            super().report(epoch, value)
            checkpoint_module.request_preemption()

    with pytest.raises(TrialPreempted):
        ProgramTrial(train, {}, 0, PreemptAfterFirst(), slot, identity="a").run()
    body = slot.get()
    assert body is not None and b"late.txt" in body  # saved once the program was stopped
