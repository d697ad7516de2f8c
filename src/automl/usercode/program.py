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
intermediate value, ``{"value": 0.93}`` for the final one (with several objectives
``{"step": 3, "values": {"acc": 0.91, "ms": 3.2}}`` and ``{"values": {...}}``); every other line
goes to the worker's log. When the pruner says stop, the program gets SIGTERM, then SIGKILL 10 s
later (:attr:`~automl.settings.Settings.stop_grace_s`), and the trial is PRUNED. A non-zero exit is
FAIL with the last lines of its stderr (masked) as the reason; an exit without a final value is
FAIL; the timeout is FAIL ``timed out after ...``. On preemption (SIGTERM to the worker) the program
gets SIGTERM, its folder is saved once it exits, and the trial runs again from there. How the folder
is kept: :mod:`automl.usercode.folder`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from automl.errors import AutoMLError, TrialPreempted, TrialPruned
from automl.settings import Settings
from automl.studyfile.duration import format_duration
from automl.studyfile.schema import TrainCommand
from automl.training.checkpoint import CheckpointBlob, preemption_requested
from automl.training.reporter import Reported, Reporter
from automl.usercode.command import build_command
from automl.usercode.folder import CheckpointFolder
from automl.usercode.protocol import _message
from automl.usercode.readers import MetricReader

log = logging.getLogger(__name__)

STDERR_LINES = 5  # the last lines of stderr that make a failure's reason
POLL_S = 0.5  # how often event files (train.metric.tensorboard) are read while the program runs


class ProgramFailed(AutoMLError):
    """The program exited with an error, printed no final value, or ran past its timeout."""


class ProgramOutOfMemory(MemoryError):
    """The program said it ran out of (GPU) memory: the trial fails as ``out of memory``."""


class ProgramTrial:
    """One run of the program for one trial; its folder is kept in ``blob`` under ``identity``.
    A program that is stopped gets ``settings.stop_grace_s`` between SIGTERM and SIGKILL."""

    def __init__(
        self,
        train: TrainCommand,
        params: Mapping[str, Any],
        number: int,
        reporter: Reporter,
        blob: CheckpointBlob | None = None,
        *,
        identity: str = "",
        on_saved: Callable[[int], None] = lambda step: None,
        settings: Settings | None = None,
        names: Sequence[str] = ("value",),
        maximize: Sequence[bool] = (True,),
    ) -> None:
        self.train, self.params, self.number = train, dict(params), number
        # the objectives, for train.metric
        self._names, self._maximize = (
            list(names),
            list(maximize),
        )
        self._reporter = reporter
        self._folder = CheckpointFolder(blob, identity, on_saved)
        self._grace_s = (settings or Settings()).stop_grace_s
        self.reported: dict[int, Reported] = {}
        self.resumed_from_step = 0

    @property
    def checkpoint_step(self) -> int:
        """The step of the folder's copy saved (or restored) last."""
        return self._folder.step

    def run(self) -> Reported:
        folder = Path(tempfile.mkdtemp(prefix=f"automl-trial-{self.number}-"))
        try:
            for step, value in self._folder.restore(folder).items():
                self.reported[step] = value
                self._reporter.report(step, value)  # the new trial carries the curve so far
            self.resumed_from_step = self._folder.step
            resuming = self._folder.restored and any(folder.iterdir())
            return self._run_in(folder, resuming)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # -- the run -----------------------------------------------------------------------------

    def _run_in(self, folder: Path, resuming: bool) -> Reported:
        env = dict(
            os.environ,
            AUTOML_PARAMS=json.dumps(self.params),
            AUTOML_TRIAL_NUMBER=str(self.number),
            AUTOML_CHECKPOINT_DIR=str(folder),
            PYTHONUNBUFFERED="1",
        )
        fills = {"checkpoint_dir": str(folder), "trial": str(self.number)}
        metrics = MetricReader(
            self.train,
            self._names,
            self._maximize,
            fills,
            after_step=self._folder.step,
            carried=self.reported,
        )
        try:
            proc = subprocess.Popen(
                build_command(self.train, self.params, self.number, str(folder), resuming=resuming),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                text=True,
                bufsize=1,
                start_new_session=True,  # its own group: stopping it stops its children
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            raise ProgramFailed(
                f"cannot start {self.train.command[0]!r}: {exc.strerror or exc}"
            ) from None
        lines: queue.Queue[str | None] = queue.Queue()
        tail: deque[str] = deque(maxlen=STDERR_LINES)
        readers = [
            threading.Thread(target=_pump, args=(proc.stdout, lines.put), daemon=True),
            threading.Thread(
                target=_pump, args=(proc.stderr, lambda line: _stderr_line(line, tail)), daemon=True
            ),
        ]
        for reader in readers:
            reader.start()
        deadline = time.monotonic() + self.train.timeout if self.train.timeout else math.inf
        final: Reported | None = None
        ended = False  # stdout closed: the program is exiting by itself
        polled = 0.0

        def step(number: int, value: Reported) -> None:
            self.reported[number] = value
            # The program's step is automl's epoch from here on (reporter, pruner, *_epoch attrs).
            self._reporter.report(number, value)
            if self._reporter.should_prune():
                _stop(proc, self._grace_s)
                raise TrialPruned("pruned by the pruner", number)
            self._save_if_changed(folder, proc)

        try:
            while True:
                if preemption_requested():
                    _stop(proc, self._grace_s)
                    self._folder.save(folder, self.reported)
                    raise TrialPreempted(self.checkpoint_step)
                if time.monotonic() > deadline:
                    _stop(proc, self._grace_s)
                    raise ProgramFailed(
                        f"timed out after {format_duration(self.train.timeout or 0)}"
                    )
                if time.monotonic() - polled > POLL_S:  # event files the program wrote meanwhile
                    polled = time.monotonic()
                    for number, value in metrics.poll():
                        step(number, value)
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
                    for number, value in metrics.feed(line):
                        step(number, value)
                elif "step" in message:
                    step(message["step"], message["value"])
                else:
                    final = message["value"]
        finally:
            if not ended:  # stopped early (pruned, preempted, timed out, or an error here)
                _stop(proc, self._grace_s)
            code = proc.wait()
            for reader in readers:
                reader.join(timeout=5)
        if code != 0:
            said = " | ".join(line.strip() for line in tail if line.strip())
            if "out of memory" in said.lower():
                raise ProgramOutOfMemory(said)
            raise ProgramFailed(
                f"the program exited with code {code}" + (f": {said}" if said else "")
            )
        for number, value in metrics.poll():  # what it wrote last (nothing left to prune)
            self.reported[number] = value
            self._reporter.report(number, value)
        final = final if final is not None else metrics.final()
        if final is None and metrics.active:
            raise ProgramFailed(
                f"the program exited 0, but no value was read from it ({metrics.describe()})"
            )
        if final is None:
            raise ProgramFailed(
                'the program printed no final value (a line {"value": ...} or {"values": {...}})'
            )
        return final

    # -- the folder --------------------------------------------------------------------------

    def _save_if_changed(self, folder: Path, proc: subprocess.Popen[str]) -> None:
        """After a reported step: keep the folder if it changed, with the program paused while
        it is copied, so that the copy is of one moment."""
        if not self._folder.kept:
            return
        paused = _signal(proc, signal.SIGSTOP)
        try:
            if self._folder.changed(folder):
                self._folder.save(folder, self.reported)
        finally:
            if paused:
                _signal(proc, signal.SIGCONT)


def _die_with_parent() -> None:
    """In the child, before the program starts: on Linux, the program gets SIGKILL when the
    worker process dies (kill -9, out of memory), as it would if the machine died; a retry then
    never races an orphan for the same checkpoint folder."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the orphan ends when it next writes to its closed stdout


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


def _stop(proc: subprocess.Popen[str], grace_s: float) -> None:
    """SIGTERM to the program's process group, SIGKILL ``grace_s`` later."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass
