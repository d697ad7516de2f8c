"""Chaos benchmark for the Celery fleet: a real study rides out killed workers, a killed
coordinator, a broker outage and a storage outage, and loses nothing.

    python benchmarks/chaos.py --trials 60 --workers 4 --out benchmarks/chaos-result.json

What it does, with the real commands as subprocesses and nothing of the machine's own services
(PostgreSQL on 5432 and Redis on 6379 are never touched):

1. Starts a private redis-server (the broker; append-only file, fsync every second) and a
   private PostgreSQL cluster (the Optuna storage), each on a free port, in a temporary folder.
2. Starts ``automl worker --gpus none --concurrency N --lease-s S`` and, to leave stale claims
   on the broker, runs a 3-trial study of the same name through ``automl run --backend
   celery``, then deletes that study from the storage.
3. Runs the real study (``--trials``, trials of ~3 s: :mod:`chaos_model` sleeps in every
   training step) with ``automl run --backend celery``, while a chaos thread, at points spread
   over the run by the number of finished trials, does: 10 ``kill -9`` of a worker process
   training a trial (one that reported an epoch), 2 ``kill -9`` of the coordinator (restarted
   at once with the same command), a 40 s broker outage (``kill -9``, then restarted on its
   append-only file) and a 60 s storage outage (``pg_ctl stop -m fast``, then started again).
   Trials checkpoint every ``--checkpoint-every`` (default: every epoch) into a folder of the
   work directory, so a retried trial resumes; the figures count the epochs thrown away.
4. Waits for the coordinator to exit 0 (``--deadline-s``), reads the storage and the worker log,
   prints the figures and writes them as JSON to ``--out``; exits 1 when a "must" fails.

Logs (coordinator, workers, redis, postgres) stay in ``--logs`` (default: a new folder under
/tmp); the databases are removed. Ctrl-C or SIGTERM stops everything it started.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STUDY = "chaos-study"
QUEUE = "chaos"
STALE_TRIALS = 3
# The chaos, in order: W kill -9 a worker process, C kill -9 the coordinator,
# B broker outage, P storage outage. Spread from 5% to 85% of the trials finished.
PLAN = "WWCWBWWWCPWWWW"
TRAINING_LINE = re.compile(r"training trial (\d+) of (\S+) on ")

STUDY_YAML = """\
name: {name}
storage: {storage}
objective: {{metric: accuracy}}
data:
  source: sklearn:make_classification
  options: {{n_samples: 200, n_features: 10, n_informative: 6, random_state: 0}}
  cv: {{folds: 2, seed: 0}}
model: {{family: "python:chaos_model:build"}}
trainer: {{epochs: {epochs}, batch_size: 64, early_stopping: null, \
checkpoint_every: {checkpoint_every}}}
space:
  lr: {{low: 1.0e-3, high: 1.0e-1, log: true}}
  width: {{low: 8, high: 64, log: true}}
search:
  sampler: {{type: random, seed: 0}}
  pruner: {{type: none}}
  n_trials: {n_trials}
  max_failed_trials: null
execution: {{backend: celery, broker: "{broker}", queue: {queue}, parallelism: {parallelism}, \
trial_retries: 5, checkpoints: "{checkpoints}"}}
"""


class Stopped(Exception):
    """SIGINT or SIGTERM arrived: stop everything we started."""


def _on_signal(signum: int, _frame: object) -> None:
    raise Stopped(signal.Signals(signum).name)


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in (5432, 6379):  # never the machine's own services
            return port


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def automl_command() -> list[str]:
    script = Path(sys.executable).parent / "automl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "automl"]


def say(t0: float, text: str) -> None:
    print(f"[{time.monotonic() - t0:7.1f}s] {text}", flush=True)


# -- services -------------------------------------------------------------------------------


class RedisBroker:
    """A private redis-server; its append-only file survives ``kill -9`` (fsync every second)."""

    def __init__(self, folder: Path, log: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.binary, self.folder, self.log = binary, folder, log
        folder.mkdir(parents=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until(self._answers, 60, f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:  # not up yet, or still loading its append-only file
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def claims(self) -> int:
        import redis

        # Claims are keyed by the study's uid, not its name; before the real run, every claim
        # on this private broker is the stale study's.
        return len(redis.Redis(port=self.port).keys("automl:claim:*"))


class PostgresCluster:
    """A private PostgreSQL cluster (initdb, pg_ctl) run as the postgres user, on its own port."""

    def __init__(self, folder: Path) -> None:
        versions = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
        )
        if not versions:
            raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        self.bin = versions[-1].parent
        self.folder, self.data, self.sockets = folder, folder / "data", folder / "sockets"
        self.log = folder / "postgres.log"
        self.port = free_port()
        self.started = False  # once at least
        self.running = False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, program: str, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", str(self.bin / program), *args]
        # Its own session: a Ctrl-C at the terminal must not reach the postmaster.
        done = subprocess.run(
            command, capture_output=True, text=True, start_new_session=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}"
            )

    def init(self) -> None:
        self.sockets.mkdir(parents=True)
        for path in (self.folder, self.sockets):
            shutil.chown(path, "postgres", "postgres")
        self._pg_ctl("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
        self._pg_ctl(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self.started = self.running = True

    def stop(self) -> None:
        self._pg_ctl("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        self.running = False


# -- the fleet ------------------------------------------------------------------------------


class WorkerPool:
    """``automl worker`` (a supervisor and one child process per slot) in its own session."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path, n: int) -> None:
        self.command, self.env, self.log, self.n = command, env, log, n
        self.proc: subprocess.Popen[bytes] | None = None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self, timeout_s: float = 300) -> None:
        """Start it and wait until every slot's process is ready; a supervisor that exits first
        (an import error, a bad flag) fails at once with the last line of its log."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=ROOT,
                start_new_session=True,
            )
        wait_until(self._ready, timeout_s, f"{self.n} worker processes ready")

    def _ready(self) -> bool:
        assert self.proc is not None
        text = self.text()
        if text.count(" ready on queues ") >= self.n:
            return True
        if self.proc.poll() is not None:
            last = (text.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(
                f"automl worker exited {self.proc.returncode} before it was ready: {last}"
            )
        return False

    def children(self) -> list[int]:
        """Live child processes of the supervisor (the per-slot worker processes)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        out = subprocess.run(
            ["ps", "--ppid", str(self.proc.pid), "-o", "pid=,stat="], capture_output=True, text=True
        ).stdout
        return [
            int(pid)
            for pid, stat in (line.split()[:2] for line in out.splitlines() if line.strip())
            if not stat.startswith("Z")
        ]

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()  # the supervisor asks its children to stop
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever is left of the session: ours
        except ProcessLookupError:
            pass
        self.proc.wait()


class CoordinatorProcess:
    """``automl run`` as a subprocess; killed and restarted under a lock, so that only an exit
    of its own is seen by :meth:`poll`."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path, t0: float) -> None:
        self.command, self.env, self.log, self.t0 = command, env, log, t0
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_codes: list[int] = []  # one per process, in order
        self._exit_seen = False

    def starts(self) -> int:
        return (
            self.log.read_text(errors="replace").count("sending trials to queue")
            if self.log.exists()
            else 0
        )

    def _start(self) -> None:
        self._exit_seen = False
        with self.log.open("ab") as out:
            out.write(
                (
                    f"===== chaos.py: coordinator started at {time.monotonic() - self.t0:.1f} s\n"
                ).encode()
            )
            out.flush()
            self.proc = subprocess.Popen(
                self.command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=ROOT,
                start_new_session=True,
            )

    def start(self) -> None:
        with self.lock:
            self._start()

    def kill_and_restart(self, restart: Callable[[], bool]) -> int | None:
        """``kill -9`` it and start it again at once (unless ``restart()`` says no); its old pid."""
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                return None
            pid = self.proc.pid
            self.proc.kill()
            self._exited(self.proc.wait())
            if restart():
                self._start()
            return pid

    def poll(self) -> int | None:
        with self.lock:
            if self.proc is None:
                return None
            code = self.proc.poll()
            if code is not None:
                self._exited(code)
            return code

    def _exited(self, code: int) -> None:
        if not self._exit_seen:
            self.exit_codes.append(code)
            self._exit_seen = True

    def stop(self) -> None:
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                return
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self._exited(self.proc.returncode)


class StudyReader:
    """Reads the study's trials straight from the PostgreSQL storage (no retries, no cache)."""

    def __init__(self, url: str) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.url = url.replace("postgresql://", "postgresql+psycopg://", 1)  # the driver we ship
        self.storage = optuna.storages.RDBStorage(self.url, engine_kwargs={"pool_pre_ping": True})

    def trials(self) -> list[Any]:
        try:
            study_id = self.storage.get_study_id_from_name(STUDY)
        except KeyError:
            return []
        return list(self.storage.get_all_trials(study_id, deepcopy=False))

    def finished(self) -> int | None:
        try:
            return sum(t.state.name in ("COMPLETE", "PRUNED") for t in self.trials())
        except Exception:  # noqa: BLE001 - a storage that blinks: try again later
            return None

    def delete_study(self) -> None:
        import optuna

        optuna.delete_study(study_name=STUDY, storage=self.storage)


# -- chaos ----------------------------------------------------------------------------------


@dataclass
class Fleet:
    broker: RedisBroker
    postgres: PostgresCluster
    workers: WorkerPool
    coordinator: CoordinatorProcess
    reader: StudyReader
    t0: float


@dataclass
class ChaosLog:
    events: list[dict[str, Any]] = field(default_factory=list)
    killed_worker_pids: list[int] = field(default_factory=list)
    steps_done: int = 0
    errors: list[str] = field(default_factory=list)
    outage: str | None = None  # the service that is down right now


class Chaos(threading.Thread):
    """Does :data:`PLAN`, each step once that many trials have finished, then returns.

    ``stop``: take no further step (the run ended), but let an outage run its full length, so
    that what the workers do during it shows. ``abort``: cut an outage short too (Ctrl-C).
    """

    def __init__(self, fleet: Fleet, n_trials: int, args: argparse.Namespace) -> None:
        super().__init__(name="chaos", daemon=True)
        self.fleet, self.n_trials, self.args = fleet, n_trials, args
        self.stop, self.abort = threading.Event(), threading.Event()
        self.log = ChaosLog()
        self.rng = random.Random(args.seed)

    def run(self) -> None:
        actions = {
            "W": self.kill_worker,
            "C": self.kill_coordinator,
            "B": self.broker_outage,
            "P": self.storage_outage,
        }
        for i, kind in enumerate(PLAN):
            threshold = round(self.n_trials * (0.05 + 0.80 * i / (len(PLAN) - 1)))
            if not self._wait_for_finished(threshold):
                return
            try:
                actions[kind]()
                self.log.steps_done += 1
            except Exception as exc:  # noqa: BLE001 - report it, go on with the plan
                self.log.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
                say(self.fleet.t0, f"chaos step {kind} failed: {exc}")
            if self.stop.wait(self.args.gap_s):
                return

    def _wait_for_finished(self, threshold: int) -> bool:
        while not self.stop.is_set():
            finished = self.fleet.reader.finished()
            if finished is not None and finished >= threshold:
                return True
            self.stop.wait(1.0)
        return False

    def _record(self, event: str, **details: Any) -> None:
        entry = {"t_s": round(time.monotonic() - self.fleet.t0, 1), "event": event, **details}
        self.log.events.append(entry)
        say(self.fleet.t0, f"chaos: {event} {json.dumps(details) if details else ''}")

    def kill_worker(self) -> None:
        """``kill -9`` the worker process of a RUNNING trial that has reported an epoch."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not self.stop.is_set():
            children = set(self.fleet.workers.children())
            candidates = [
                t
                for t in self._safe_trials()
                if t.state.name == "RUNNING"
                and t.intermediate_values
                and t.user_attrs.get("pid") in children
            ]
            if candidates:
                trial = self.rng.choice(candidates)
                pid = int(trial.user_attrs["pid"])
                os.kill(pid, signal.SIGKILL)
                self.log.killed_worker_pids.append(pid)
                self._record(
                    "kill -9 worker process",
                    pid=pid,
                    trial=trial.number,
                    epochs=len(trial.intermediate_values),
                )
                return
            self.stop.wait(0.3)
        if not self.stop.is_set():
            raise RuntimeError(
                "no RUNNING trial with an epoch reported on a live worker process within 120 s"
            )

    def _safe_trials(self) -> list[Any]:
        try:
            return self.fleet.reader.trials()
        except Exception:  # noqa: BLE001 - try again at the next look
            return []

    def kill_coordinator(self) -> None:
        coordinator = self.fleet.coordinator
        before = coordinator.starts()
        pid = coordinator.kill_and_restart(restart=lambda: not self.stop.is_set())
        if pid is None:
            raise RuntimeError("the coordinator was not running")
        self._record("kill -9 coordinator, restarted", pid=pid)
        # Let it reach the broker again before anything else happens to the fleet.
        deadline = time.monotonic() + 120
        while (
            coordinator.starts() <= before
            and time.monotonic() < deadline
            and not self.stop.wait(0.5)
        ):
            pass

    def broker_outage(self) -> None:
        broker = self.fleet.broker
        self._outage("broker", broker.kill, broker.start, self.args.broker_outage_s,
                     "kill -9 redis-server", "append-only file replayed")  # fmt: skip

    def storage_outage(self) -> None:
        postgres = self.fleet.postgres
        self._outage("storage", postgres.stop, postgres.start, self.args.storage_outage_s,
                     "pg_ctl stop -m fast", "pg_ctl start")  # fmt: skip

    def _outage(
        self,
        what: str,
        stop: Callable[[], None],
        start: Callable[[], None],
        seconds: float,
        how_down: str,
        how_up: str,
    ) -> None:
        """``what`` down for ``seconds`` (cut short only by Ctrl-C), and always up again."""
        self.log.outage = what
        stop()
        self._record(f"{what} down ({how_down})")
        try:
            self.abort.wait(seconds)
        finally:
            start()
            self.log.outage = None
            self._record(f"{what} up again ({how_up})")


# -- the run --------------------------------------------------------------------------------


def fleet_env(args: argparse.Namespace, broker: str, storage: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    return dict(
        os.environ, PYTHONPATH=path, AUTOML_LOG_LEVEL="INFO", AUTOML_STORAGE_RETRY_S="600",
        AUTOML_LEASE_S=str(args.lease_s), AUTOML_BROKER=broker, AUTOML_STORAGE=storage,
    )  # fmt: skip


def write_study(
    path: Path, args: argparse.Namespace, broker: str, storage: str, checkpoints: Path
) -> None:
    path.write_text(STUDY_YAML.format(
        name=STUDY, storage=storage, broker=broker, queue=QUEUE, epochs=args.epochs,
        n_trials=args.trials, parallelism=args.parallelism, checkpoint_every=args.checkpoint_every,
        checkpoints=checkpoints,
    ))  # fmt: skip


def run_stale_study(command: list[str], env: dict[str, str], log: Path) -> None:
    """A small study of the same name, run for real, then deleted: its claims stay on the broker."""
    with log.open("ab") as out:
        done = subprocess.run(
            [*command, "--n-trials", str(STALE_TRIALS)], stdout=out, stderr=subprocess.STDOUT,
            env=env, cwd=ROOT, timeout=600,
        )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the stale study's run exited {done.returncode}; see {log}")


def count_training_starts(worker_log: str, study: str) -> Counter[int] | None:
    """How often each trial number started training, from the workers' INFO lines; None when
    the workers do not write that line (yet)."""
    starts = [int(m.group(1)) for m in TRAINING_LINE.finditer(worker_log) if m.group(2) == study]
    return Counter(starts) if starts else None


def measure(
    fleet: Fleet, chaos: ChaosLog, args: argparse.Namespace, worker_log: str
) -> dict[str, Any]:
    """The figures, each with what it must be (None: for information)."""
    trials = fleet.reader.trials()
    states = Counter(t.state.name for t in trials)
    failed = [t for t in trials if t.state.name == "FAIL"]
    killed = set(chaos.killed_worker_pids)
    lost_unkilled = [
        {
            "trial": t.number,
            "pid": t.user_attrs.get("pid"),
            "reason": t.user_attrs.get("fail_reason"),
        }
        for t in failed
        if str(t.user_attrs.get("fail_reason", "")).startswith("worker lost")
        and t.user_attrs.get("pid") not in killed
    ]
    starts = count_training_starts(worker_log, STUDY)
    twice = None if starts is None else sorted(n for n, k in starts.items() if k > 1)
    alive = fleet.workers.children()

    # Whole epochs a failed trial had reported beyond the last checkpoint of its lineage (its own,
    # or the one it resumed from): its retry trains them again.
    def saved(t: Any) -> int:
        return max(
            int(t.user_attrs.get("checkpoint_epoch") or 0),
            int(t.user_attrs.get("resumed_from_epoch") or 0),
        )

    thrown = {t.number: max(0, (t.last_step or 0) - saved(t)) for t in failed}
    figures: dict[str, dict[str, Any]] = {
        "trials finished (COMPLETE+PRUNED)": {
            "value": states["COMPLETE"] + states["PRUNED"],
            "must": args.trials,
        },
        "trials left RUNNING or WAITING": {
            "value": states["RUNNING"] + states["WAITING"],
            "must": 0,
        },
        "trials trained twice": {"value": None if twice is None else len(twice), "must": 0},
        "worker processes alive at the end": {"value": len(alive), "must": args.workers},
        "trials lost whose worker was not killed": {"value": len(lost_unkilled), "must": 0},
        "chaos steps done": {"value": chaos.steps_done, "must": len(PLAN)},
        "coordinator's last exit code": {
            "value": (fleet.coordinator.exit_codes or [None])[-1],
            "must": 0,
        },
        "epochs trained by failed trials": {
            "value": sum(len(t.intermediate_values) for t in failed),
            "must": None,
        },
        "epochs thrown away (not in a checkpoint)": {"value": sum(thrown.values()), "must": None},
        "most epochs thrown away by one killed trial": {
            "value": max(thrown.values(), default=0),
            "must": None,
        },
        "retries resumed from a checkpoint": {
            "value": sum(1 for t in trials if (t.user_attrs.get("resumed_from_epoch") or 0) > 0),
            "must": None,
        },
        "trials failed (any reason)": {"value": len(failed), "must": None},
        "worker infrastructure failures logged": {
            "value": len(re.findall(r"infrastructure failure \d+ in a row", worker_log)),
            "must": None,
        },
        "worker processes that retired themselves": {
            "value": worker_log.count("stops taking work"),
            "must": None,
        },
    }
    if args.checkpoint_every.isdigit():  # at most one checkpoint interval per killed trial
        figures["most epochs thrown away by one killed trial"]["must_at_most"] = int(
            args.checkpoint_every
        )
    for figure in figures.values():
        figure["ok"] = (
            None
            if figure["must"] is None or figure["value"] is None
            else figure["value"] == figure["must"]
        )
        if "must_at_most" in figure:
            figure["ok"] = figure["value"] <= figure["must_at_most"]
    return {
        "figures": figures,
        "states": dict(states),
        "fail_reasons": dict(
            Counter(_reason_kind(t.user_attrs.get("fail_reason")) for t in failed)
        ),
        "lost_whose_worker_was_not_killed": lost_unkilled,
        "trials_trained_twice": twice,
        "worker_pids_alive_at_end": alive,
    }


def last_error(log: Path) -> str | None:
    """The coordinator's last line when it names an error (how a failed run ended)."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines and "error" in lines[-1].lower() else None


def _reason_kind(reason: Any) -> str:
    """A failure reason without its trial-specific details, for counting."""
    return re.sub(r"\d+", "N", str(reason))[:120]


def print_report(result: dict[str, Any]) -> None:
    width = max(len(name) for name in result["figures"])
    print(f"\n{'figure':<{width}}  {'value':>8}  {'must be':>8}  ok")
    for name, f in result["figures"].items():
        value = "n/a" if f["value"] is None else str(f["value"])
        must = (
            f"<= {f['must_at_most']}"
            if "must_at_most" in f
            else ("" if f["must"] is None else str(f["must"]))
        )
        ok = {True: "yes", False: "NO", None: ""}[f["ok"]]
        print(f"{name:<{width}}  {value:>8}  {must:>8}  {ok}")
    print(
        f"\nwall time: {result['wall_s']:.0f} s in all, {result['run_wall_s']:.0f} s for "
        "the real run"
    )
    print(f"coordinator exit codes: {result['coordinator_exit_codes']}")
    print(f"worker pids killed: {result['killed_worker_pids']}")
    for note in result["notes"]:
        print(f"note: {note}")
    shown = {k: v for k, v in result.items() if k != "figures"}
    print(f"\n{json.dumps(shown, indent=2, default=str)}")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--trials", type=int, default=60, help="trials in the real study (default: 60)")
    p.add_argument(
        "--workers", type=int, default=4, help="worker processes, --concurrency (default: 4)"
    )
    p.add_argument("--parallelism", type=int, default=4, help="trials in flight (default: 4)")
    p.add_argument(
        "--epochs", type=int, default=15, help="epochs per trial, ~0.2 s each (default: 15)"
    )
    p.add_argument(
        "--checkpoint-every",
        default="1",
        help="trainer.checkpoint_every: epochs, a duration, or none (default: 1)",
    )
    p.add_argument("--lease-s", type=float, default=5.0, help="the workers' --lease-s (default: 5)")
    p.add_argument("--broker-outage-s", type=float, default=40.0, help="(default: 40)")
    p.add_argument("--storage-outage-s", type=float, default=60.0, help="(default: 60)")
    p.add_argument(
        "--gap-s",
        type=float,
        default=3.0,
        help="at least this long between chaos steps (default: 3)",
    )
    p.add_argument(
        "--deadline-s",
        type=float,
        default=1200.0,
        help="give up on the real run after this long (default: 1200)",
    )
    p.add_argument("--seed", type=int, default=0, help="which running trial's worker to kill")
    p.add_argument("--logs", type=Path, help="folder for the logs (default: a new one under /tmp)")
    p.add_argument(
        "--out",
        type=Path,
        default=HERE / "chaos-result.json",
        help="the JSON result (default: %(default)s)",
    )
    return p.parse_args()


def workspace(prefix: str, logs: Path | None) -> tuple[Path, Path]:
    """The logs folder (kept) and a work folder for the databases, and Ctrl-C / SIGTERM turned
    into :class:`Stopped`, so that everything started is stopped on the way out."""
    logs = logs or Path(tempfile.mkdtemp(prefix=f"{prefix}-logs-"))
    logs.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    work.chmod(0o755)  # the postgres user must reach its folder inside
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _on_signal)
    return logs, work


def main() -> int:
    args = parse_args()
    logs, work = workspace("automl-chaos", args.logs)
    t0 = time.monotonic()
    broker = RedisBroker(work / "redis", logs / "redis.log")
    postgres = PostgresCluster(work / "postgres")
    workers: WorkerPool | None = None
    coordinator: CoordinatorProcess | None = None
    chaos: Chaos | None = None
    notes: list[str] = []
    try:
        say(t0, f"logs in {logs}; databases in {work}")
        broker.start()
        postgres.init()
        postgres.start()
        say(t0, f"private broker {broker.url}, storage {postgres.url}")
        env = fleet_env(args, broker.url, postgres.url)
        study_file = logs / "study.yaml"
        checkpoints = work / "checkpoints"
        write_study(study_file, args, broker.url, postgres.url, checkpoints)
        workers = WorkerPool(
            [
                *automl_command(),
                "worker",
                "--broker",
                broker.url,
                "--storage",
                postgres.url,
                "--queues",
                QUEUE,
                "--gpus",
                "none",
                "--concurrency",
                str(args.workers),
                "--lease-s",
                str(args.lease_s),
            ],
            env,
            logs / "workers.log",
            args.workers,
        )
        workers.start()
        say(
            t0,
            f"{args.workers} worker processes ready (supervisor pid "
            f"{workers.proc.pid if workers.proc else '?'})",
        )
        command = [*automl_command(), "run", str(study_file), "--backend", "celery"]
        run_stale_study(command, env, logs / "stale-coordinator.log")
        reader = StudyReader(postgres.url)
        reader.delete_study()
        notes.append(
            f"stale study: {STALE_TRIALS} trials run and deleted; {broker.claims()} of "
            "its claims left on the broker"
        )
        say(t0, notes[-1])
        log_offset = len(workers.text())

        coordinator = CoordinatorProcess(command, env, logs / "coordinator.log", t0)
        fleet = Fleet(broker, postgres, workers, coordinator, reader, t0)
        run_started = time.monotonic()
        coordinator.start()
        say(
            t0,
            f"real run: {args.trials} trials, coordinator pid "
            f"{coordinator.proc.pid if coordinator.proc else '?'}",
        )
        chaos = Chaos(fleet, args.trials, args)
        chaos.start()
        deadline = run_started + args.deadline_s
        while coordinator.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        run_wall_s = time.monotonic() - run_started
        if coordinator.poll() is None:
            notes.append(
                "the coordinator had not finished after --deadline-s "
                f"{args.deadline_s:.0f} s; stopped it"
            )
            coordinator.stop()
        say(t0, f"coordinator exited {coordinator.exit_codes[-1]} after {run_wall_s:.0f} s")
        if coordinator.exit_codes[-1] != 0:
            notes.append(f"the coordinator's last words: {last_error(coordinator.log)}")
        chaos.stop.set()
        chaos.join(timeout=args.storage_outage_s + 120)  # an outage in progress runs its course
        # A worker process killed near the end may still be restarting: give it time.
        try:
            wait_until(lambda: len(workers.children()) >= args.workers, 60, "the worker processes")
        except RuntimeError as exc:
            notes.append(str(exc))
        worker_log = workers.text()[log_offset:]
        result = measure(fleet, chaos.log, args, worker_log)
        left = sorted(p.name for p in checkpoints.iterdir()) if checkpoints.exists() else []
        result["figures"]["checkpoints left at the end"] = {
            "value": len(left),
            "must": 0,
            "ok": not left,
        }
        result["checkpoints_left"] = left
        if result["trials_trained_twice"] is None:
            notes.append(
                "the worker log has no 'training trial N of STUDY on SLOT' lines yet: "
                "trials trained twice not measured"
            )
        notes.extend(f"chaos error: {e}" for e in chaos.log.errors)
        result.update(
            command=" ".join(["python", "benchmarks/chaos.py", *sys.argv[1:]]),
            n_trials=args.trials,
            workers=args.workers,
            wall_s=round(time.monotonic() - t0, 1),
            run_wall_s=round(run_wall_s, 1),
            coordinator_exit_codes=coordinator.exit_codes,
            killed_worker_pids=chaos.log.killed_worker_pids,
            chaos=chaos.log.events,
            notes=notes,
            logs=str(logs),
        )
    except Stopped as exc:
        print(f"\nstopped by {exc}; stopping everything this script started", file=sys.stderr)
        return 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleaning short
        if chaos is not None and chaos.is_alive():
            chaos.stop.set()
            chaos.abort.set()
            chaos.join(timeout=args.storage_outage_s + 120)  # it brings a downed service back up
        cleanup(coordinator, workers, postgres, broker, logs)
        shutil.rmtree(work, ignore_errors=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print_report(result)
    print(f"\nwritten to {args.out}")
    return 0 if all(f["ok"] is not False for f in result["figures"].values()) else 1


def cleanup(
    coordinator: CoordinatorProcess | None, workers: WorkerPool | None,
    postgres: PostgresCluster, broker: RedisBroker, logs: Path,
) -> None:  # fmt: skip
    """Stop what we started, in order, whatever state it is in; keep the postgres log."""
    steps: list[Callable[[], None]] = []
    if coordinator is not None:
        steps.append(coordinator.stop)
    if workers is not None:
        steps.append(workers.stop)
    if postgres.started:
        if not postgres.running:
            steps.append(postgres.start)  # down for an outage: bring it up, then stop it cleanly
        steps.append(postgres.stop)
    steps.append(broker.stop)
    for step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - go on stopping the rest
            print(f"cleanup: {getattr(step, '__qualname__', step)} failed: {exc}", file=sys.stderr)
    if postgres.log.exists():
        shutil.copy(postgres.log, logs / "postgres.log")


if __name__ == "__main__":
    sys.exit(main())
