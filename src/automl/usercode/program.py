"""``train: {command: [...], timeout: 2h}``: any program, run once per trial.

What the program gets:

* the params as ``--name value`` arguments appended to the command, and as JSON in
  ``AUTOML_PARAMS``; the trial number in ``AUTOML_TRIAL_NUMBER``;
* a folder of its own in ``AUTOML_CHECKPOINT_DIR``: whatever the program writes there is saved
  to the checkpoint store (after each value it reports, when the folder changed; the program
  is paused while it is copied), and a trial run again after its worker died or was preempted
  finds the folder as it was last saved. Write the state of step N (best: to a temporary file,
  then rename) before printing step N's line: the copy made at that line is labelled step N;
* the working directory where ``automl run`` or ``automl worker`` was started.

What it says, on stdout, one JSON object per line: ``{"step": 3, "value": 0.91}`` for an
intermediate value, ``{"value": 0.93}`` for the final one; every other line goes to the
worker's log. When the pruner says stop, the program gets SIGTERM, then SIGKILL 10 s later,
and the trial is PRUNED. A non-zero exit is FAIL with the last lines of its stderr (masked) as
the reason; an exit without a final value is FAIL; the timeout is FAIL ``timed out after ...``.
On preemption (SIGTERM to the worker) the program gets SIGTERM, its folder is saved once it
exits, and the trial runs again from there.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import queue
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from automl.errors import AutoMLError, TrialPreempted, TrialPruned
from automl.studyfile.duration import format_duration
from automl.studyfile.schema import TrainCommand
from automl.training.checkpoint import BlobSlot, fresh_start, preemption_requested, write_checkpoint
from automl.training.reporter import Reporter

log = logging.getLogger(__name__)

STOP_GRACE_S = 10.0  # SIGTERM, then SIGKILL this long after
STDERR_LINES = 5  # the last lines of stderr that make a failure's reason
FORMAT = 1
SMALL_FILE = 1 << 20  # files up to 1 MiB are compared by content too


class ProgramFailed(AutoMLError):
    """The program exited with an error, printed no final value, or ran past its timeout."""


class ProgramOutOfMemory(MemoryError):
    """The program said it ran out of (GPU) memory: the trial fails as ``out of memory``."""


class ProgramTrial:
    """One run of the program for one trial."""

    def __init__(
        self, train: TrainCommand, params: Mapping[str, Any], number: int, reporter: Reporter,
        slot: BlobSlot | None = None, *, identity: str = "", on_saved: Callable[[int], None] = lambda step: None,
    ) -> None:  # fmt: skip
        self.train, self.params, self.number = train, dict(params), number
        self._reporter, self._slot, self._identity, self._on_saved = reporter, slot, identity, on_saved
        self.reported: dict[int, float] = {}
        self.resumed_from_step = 0
        self.checkpoint_step = 0
        self._folder_seen: tuple[tuple[Any, ...], ...] = ()

    def command(self) -> list[str]:
        args = []
        for name, value in self.params.items():
            args += [f"--{name}", str(value)]
        return [*self.train.command, *args]

    def run(self) -> float:
        folder = Path(tempfile.mkdtemp(prefix=f"automl-trial-{self.number}-"))
        try:
            self._restore(folder)
            return self._run_in(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # -- the run -----------------------------------------------------------------------------

    def _run_in(self, folder: Path) -> float:
        env = dict(os.environ, AUTOML_PARAMS=json.dumps(self.params), AUTOML_TRIAL_NUMBER=str(self.number),
                   AUTOML_CHECKPOINT_DIR=str(folder), PYTHONUNBUFFERED="1")  # fmt: skip
        try:
            proc = subprocess.Popen(
                self.command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
                bufsize=1, start_new_session=True,  # its own group: stopping it stops its children
                preexec_fn=_die_with_parent,
            )  # fmt: skip
        except OSError as exc:
            raise ProgramFailed(f"cannot start {self.train.command[0]!r}: {exc.strerror or exc}") from None
        lines: queue.Queue[str | None] = queue.Queue()
        tail: deque[str] = deque(maxlen=STDERR_LINES)
        readers = [
            threading.Thread(target=_pump, args=(proc.stdout, lines.put), daemon=True),
            threading.Thread(target=_pump, args=(proc.stderr, lambda line: _stderr_line(line, tail)), daemon=True),
        ]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + self.train.timeout if self.train.timeout else math.inf
        final: float | None = None
        ended = False  # stdout closed: the program is exiting by itself
        try:
            while True:
                if preemption_requested():
                    _stop(proc)
                    self._save(folder)
                    raise TrialPreempted(self.checkpoint_step)
                if time.monotonic() > deadline:
                    _stop(proc)
                    raise ProgramFailed(f"timed out after {format_duration(self.train.timeout or 0)}")
                try:
                    line = lines.get(timeout=0.2)
                except queue.Empty:
                    continue
                if line is None:
                    ended = True
                    break
                message = _message(line)
                if message is None:
                    log.info("trial %d: %s", self.number, line.rstrip()[:1000])
                elif "step" in message:
                    step, value = message["step"], message["value"]
                    self.reported[step] = value
                    self._reporter.report(step, value)
                    if self._reporter.should_prune():
                        _stop(proc)
                        raise TrialPruned("pruned by the pruner", step)
                    self._save_if_changed(folder, proc)
                else:
                    final = message["value"]
        finally:
            if not ended:  # stopped early (pruned, preempted, timed out, or an error here)
                _stop(proc)
            code = proc.wait()
            for reader in readers:
                reader.join(timeout=5)
        if code != 0:
            said = " | ".join(line.strip() for line in tail if line.strip())
            if "out of memory" in said.lower():
                raise ProgramOutOfMemory(said)
            raise ProgramFailed(f"the program exited with code {code}" + (f": {said}" if said else ""))
        if final is None:
            raise ProgramFailed('the program printed no final value (a line {"value": ...})')
        return final

    # -- checkpoints ---------------------------------------------------------------------------

    def _restore(self, folder: Path) -> None:
        if self._slot is None:
            return
        try:
            body = self._slot.get()
            if body is None:
                return
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:") as tar:
                meta = json.loads(tar.extractfile("automl.json").read())  # type: ignore[union-attr]
                if meta.get("format") != FORMAT or meta.get("identity") != self._identity:
                    fresh_start("it belongs to other params or another train:")
                    return
                members = [m for m in tar.getmembers() if m.name.startswith("files/") and (m.isfile() or m.isdir())]
                for m in members:
                    m.name = m.name[len("files/") :]
                tar.extractall(folder, members=[m for m in members if m.name], filter="data")
        except Exception as exc:  # noqa: BLE001 - an unreadable checkpoint means a fresh start
            fresh_start(str(exc))
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            return
        for step, value in sorted((int(k), float(v)) for k, v in meta["reported"].items()):
            self.reported[step] = value
            self._reporter.report(step, value)  # the new trial carries the curve so far
        self.resumed_from_step = self.checkpoint_step = int(meta["step"])
        self._folder_seen = _signature(folder)

    def _save_if_changed(self, folder: Path, proc: subprocess.Popen[str]) -> None:
        """After a reported step: keep the folder if it changed, with the program paused while
        it is copied, so that the copy is of one moment."""
        if self._slot is None:
            return
        paused = _signal(proc, signal.SIGSTOP)
        try:
            if _signature(folder) != self._folder_seen:
                self._save(folder)
        finally:
            if paused:
                _signal(proc, signal.SIGCONT)

    def _save(self, folder: Path) -> None:
        if self._slot is None:
            return
        seen = _signature(folder)
        if not seen:
            return  # the program wrote nothing to keep
        step = max(self.reported, default=0)
        meta = {"format": FORMAT, "identity": self._identity, "step": step,
                "reported": {str(k): v for k, v in self.reported.items()}}  # fmt: skip
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:") as tar:
            data = json.dumps(meta).encode()
            info = tarfile.TarInfo("automl.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            tar.add(folder, arcname="files")
        if not write_checkpoint(self._slot, buf.getvalue(), step):
            return
        self._folder_seen = seen
        self.checkpoint_step = step
        self._on_saved(step)


def _die_with_parent() -> None:
    """In the child, before the program starts: on Linux, the program gets SIGKILL when the
    worker process dies (kill -9, out of memory), as it would if the machine died; a retry then
    never races an orphan for the same checkpoint folder."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the orphan ends when it next writes to its closed stdout


def _signature(folder: Path) -> tuple[tuple[Any, ...], ...]:
    """What the folder holds: path, size, inode and mtime of every file, and the content of
    small ones (a file rewritten within one clock tick keeps its mtime); empty when nothing."""
    out = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            st = path.stat()
            small = hashlib.blake2b(path.read_bytes(), digest_size=8).hexdigest() if st.st_size <= SMALL_FILE else ""
            out.append((str(path.relative_to(folder)), st.st_size, st.st_ino, st.st_mtime_ns, small))
    return tuple(out)


def _message(line: str) -> dict[str, Any] | None:
    """A protocol line as {"value": float} or {"step": int, "value": float}; None for any
    other line (the program's own output)."""
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict) or set(obj) - {"step", "value"} or "value" not in obj:
        return None
    value, step = obj["value"], obj.get("step")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if "step" in obj:
        if isinstance(step, bool) or not isinstance(step, int):
            return None
        return {"step": step, "value": float(value)}
    return {"value": float(value)}


def _pump(stream: IO[str] | None, put: Callable[[str | None], None]) -> None:
    if stream is not None:
        for line in stream:
            put(line)
    put(None)


def _stderr_line(line: str | None, tail: deque[str]) -> None:
    if line is not None:
        tail.append(line.rstrip()[:500])
        log.info("stderr: %s", line.rstrip()[:1000])


def _signal(proc: subprocess.Popen[str], sig: int) -> bool:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to the program's process group, SIGKILL after STOP_GRACE_S."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass
