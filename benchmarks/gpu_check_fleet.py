"""The checks of ``gpu_check.py`` that drive the real commands as subprocesses.

- ``resume_check``: ``automl run`` (local backend, a journal-file storage in a temporary folder)
  trains one trial with ``checkpoint_every: 1`` on the device; once the trial has recorded a
  checkpoint, the coordinator gets SIGINT (Ctrl-C: the worker checkpoints after its epoch and
  stops as preempted). A second ``automl run``, a new process, resumes it: the retry must
  complete, report ``resumed_from_epoch`` equal to the first try's ``checkpoint_epoch``, carry
  the whole curve, and have trained on the device.
- ``worker_check``: a private ``redis-server`` on a free port as broker, ``automl worker --gpus
  all --trials-per-gpu 2`` (on CPU: ``--gpus none --concurrency 2``), and ``automl run
  --backend celery`` of a 4-trial study with parallelism 2: every trial completes, both slots
  train, two trials train at once, each on the device.

Both take a ``deadline`` (``time.monotonic()``) that bounds every wait.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from chaos import RedisBroker, WorkerPool, automl_command
from gpu_check_train import Outcome

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "gpucheck"
RESUME, WORKER = "gpu-check-resume", "gpu-check-worker"

RESUME_STUDY = """\
name: gpu-check-resume
storage: {storage}
objective: {{metric: accuracy}}
data: {{source: "sklearn:digits", cv: {{folds: 3, seed: 0}}}}
model: {{family: mlp}}
trainer: {{epochs: {epochs}, batch_size: 128, device: {device}, precision: auto, seed: 0,
           early_stopping: null, checkpoint_every: 1}}
space: {{lr: 0.003, width: 64, depth: 2}}
search: {{sampler: {{type: random, seed: 0}}, pruner: {{type: none}}, n_trials: 1}}
execution: {{backend: local, parallelism: 1, trial_retries: 1}}
"""

WORKER_STUDY = """\
name: gpu-check-worker
storage: {storage}
objective: {{metric: accuracy}}
data: {{source: "sklearn:digits", cv: {{folds: 3, seed: 0}}}}
model: {{family: mlp}}
trainer: {{epochs: {epochs}, batch_size: 128, device: auto, precision: auto, seed: 0,
           early_stopping: null, checkpoint_every: none}}
space: {{lr: {{low: 1.0e-3, high: 1.0e-2, log: true}}, width: 64, depth: 2}}
search: {{sampler: {{type: random, seed: 0}}, pruner: {{type: none}}, n_trials: 4}}
execution: {{backend: celery, broker: "{broker}", queue: {queue}, parallelism: 2,
             trial_retries: 0}}
"""


def new_workspace() -> Path:
    return Path(tempfile.mkdtemp(prefix="automl-gpu-check-"))


def left(deadline: float, cap: float) -> float:
    """Seconds a wait may take: ``cap``, or less when the deadline is nearer (at least 10)."""
    return max(10.0, min(cap, deadline - time.monotonic()))


def read_trials(storage: str, study: str) -> list[Any]:
    """The study's trials as stored now (empty before the study exists)."""
    from automl.search import make_storage

    backend = make_storage(storage, cached=False)
    try:
        study_id = backend.get_study_id_from_name(study)
    except KeyError:
        return []
    return list(backend.get_all_trials(study_id, deepcopy=False))


def tail(path: Path, lines: int = 3) -> str:
    text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return " | ".join(line.strip() for line in text[-lines:])


def start_automl(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """``automl ARGS`` in its own session (so that its worker processes can be killed with it)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [*automl_command(), *args], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            start_new_session=True,
        )  # fmt: skip


def kill_session(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def finish(proc: subprocess.Popen[bytes], timeout_s: float) -> int:
    """Its exit code; on timeout the whole session is killed and RuntimeError raised."""
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"automl did not finish within {timeout_s:.0f} s") from None
    finally:
        kill_session(proc)


def device_ok(trial: Any, device: str) -> bool:
    return str(trial.user_attrs.get("device", "")).startswith(device)


# -- a checkpoint written on the device, resumed in another process ----------------------------


def interrupt_after_checkpoint(study_file: Path, storage: str, log: Path, deadline: float) -> str:
    """Start ``automl run``, Ctrl-C it once trial 0 has checkpointed; '' or what went wrong."""
    proc = start_automl(["run", str(study_file)], log)
    try:
        until = time.monotonic() + left(deadline, 120)
        while time.monotonic() < until and proc.poll() is None:
            trials = read_trials(storage, RESUME)
            if trials and trials[0].user_attrs.get("checkpoint_epoch", 0) >= 1:
                break
            time.sleep(0.05)
        if proc.poll() is not None:
            return f"the first run ended (exit {proc.returncode}) before it could be interrupted"
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the trial checkpoints and stops as preempted
        code = finish(proc, left(deadline, 60))
        return "" if code == 130 else f"the interrupted run exited {code}, expected 130"
    finally:
        kill_session(proc)


def resume_check(device: str, epochs: int, work: Path, deadline: float) -> Outcome:
    storage, study_file, log = (
        str(work / "resume.journal"),
        work / "resume.yaml",
        work / "resume.log",
    )
    study_file.write_text(RESUME_STUDY.format(storage=storage, epochs=epochs, device=device))
    started = time.monotonic()
    problem = interrupt_after_checkpoint(study_file, storage, log, deadline)
    if problem:
        return Outcome("FAILED", note=f"{problem}; {tail(log)}")
    first = read_trials(storage, RESUME)[0]
    saved = int(first.user_attrs.get("checkpoint_epoch", 0))
    code = finish(start_automl(["run", str(study_file)], log), left(deadline, 180))
    seconds = time.monotonic() - started
    retry = next(
        (t for t in read_trials(storage, RESUME) if t.user_attrs.get("retry_of") == 0), None
    )
    resumed = retry.user_attrs.get("resumed_from_epoch") if retry is not None else None
    figures = {"epochs": epochs, "checkpoint_epoch": saved, "resumed_from_epoch": resumed,
               "first_fail_reason": first.user_attrs.get("fail_reason"),
               "seconds": round(seconds, 1)}  # fmt: skip
    figure = f"saved epoch {saved}/{epochs}, resumed from {resumed}, {seconds:.0f} s"
    problems = []
    if code != 0:
        problems.append(f"the resuming run exited {code}: {tail(log)}")
    if retry is None or retry.state.name != "COMPLETE":
        problems.append("no complete retry of trial 0")
    else:
        if resumed != saved or saved < 1:
            problems.append(f"resumed from epoch {resumed}, the checkpoint was epoch {saved}")
        if sorted(retry.intermediate_values) != list(range(1, epochs + 1)):
            problems.append("the retry does not carry the whole curve")
        if not device_ok(retry, device):
            problems.append(f"the retry trained on {retry.user_attrs.get('device')}")
        if retry.user_attrs.get("pid") == first.user_attrs.get("pid"):
            problems.append("the retry ran in the same process")
    return Outcome("FAILED" if problems else "ok", figure, "; ".join(problems), figures)


# -- automl worker with two slots ---------------------------------------------------------------


def max_at_once(trials: list[Any]) -> int:
    """The most trials training at one moment: each trained for its ``duration_s`` (written by
    the worker) up to its completion (``datetime_start`` is when the coordinator asked for it)."""
    events = []
    for t in trials:
        if t.datetime_complete is not None and "duration_s" in t.user_attrs:
            end = t.datetime_complete.timestamp()
            events += [(end - float(t.user_attrs["duration_s"]), 1), (end, -1)]
    most = now = 0
    for _, delta in sorted(events):
        now += delta
        most = max(most, now)
    return most


def worker_flags(device: str) -> tuple[list[str], set[str]]:
    """The worker's slot flags and the slots they should give."""
    if device == "cuda":
        return ["--gpus", "all", "--trials-per-gpu", "2"], {"gpu:0/0", "gpu:0/1"}
    return ["--gpus", "none", "--concurrency", "2"], {"cpu:0", "cpu:1"}


def worker_check(device: str, epochs: int, work: Path, deadline: float) -> Outcome:
    if shutil.which("redis-server") is None:
        return Outcome("skipped", note="redis-server is not installed (the broker)")
    storage, study_file, run_log = (
        str(work / "worker.journal"),
        work / "worker.yaml",
        work / "run.log",
    )
    broker = RedisBroker(work / "redis", work / "redis.log")
    flags, expected = worker_flags(device)
    command = [*automl_command(), "worker", "--broker", broker.url, "--storage", storage,
               "--queues", QUEUE, *flags]  # fmt: skip
    pool = WorkerPool(command, dict(os.environ, AUTOML_LOG_LEVEL="INFO"), work / "worker.log", 2)
    try:
        broker.start()
        pool.start(left(deadline, 120))
        text = WORKER_STUDY.format(storage=storage, epochs=epochs, broker=broker.url, queue=QUEUE)
        study_file.write_text(text)
        started = time.monotonic()
        code = finish(start_automl(["run", str(study_file), "--backend", "celery"], run_log),
                      left(deadline, 180))  # fmt: skip
        seconds = time.monotonic() - started
    finally:
        pool.stop()
        broker.stop()
    trials = read_trials(storage, WORKER)
    logs = tail(run_log) or tail(work / "worker.log")
    return worker_outcome(trials, code, seconds, expected, device, logs)


def worker_outcome(
    trials: list[Any], code: int, seconds: float, expected: set[str], device: str, logs: str
) -> Outcome:
    slots = sorted({str(t.user_attrs.get("slot")) for t in trials})
    complete = sum(t.state.name == "COMPLETE" for t in trials)
    at_once = max_at_once(trials)
    figures = {
        "seconds": round(seconds, 1),
        "complete": complete,
        "slots": slots,
        "max_at_once": at_once,
    }
    figure = f"{complete} trials in {seconds:.0f} s on {'+'.join(slots)}, {at_once} at once"
    problems = []
    if code != 0:
        problems.append(f"automl run exited {code}: {logs}")
    if complete != 4:
        problems.append(f"{complete} of 4 trials complete")
    if set(slots) != expected:
        problems.append(f"slots {slots}, expected {sorted(expected)}")
    if at_once < 2:
        problems.append("the two slots never trained at the same time")
    if not all(device_ok(t, device) for t in trials if t.state.name == "COMPLETE"):
        problems.append(f"a trial did not train on {device}")
    return Outcome("FAILED" if problems else "ok", figure, "; ".join(problems), figures)
