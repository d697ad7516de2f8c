"""Fleet coordination efficiency: automl's Celery fleet against Optuna's documented pattern of
W processes optimising one study on a shared storage, with trials that do nothing but wait.

    python benchmarks/bench_fleet.py --workers 8 32 --storages postgresql journal-redis \\
        --repeats 3 --out /tmp/bench_fleet.json

Every trial sleeps 0.5 s in all (5 epochs of 0.1 s, one intermediate value per epoch), so the
ideal wall time of N trials on W workers is N x 0.5 s / W, and

    efficiency = N x 0.5 s / W / measured wall time        (1.0: no coordination cost at all)

For each W in ``--workers`` and each storage in ``--storages`` (a "cell"):

- **automl**: ``automl worker --gpus none --concurrency W`` on a private Redis broker, started
  and warmed up before any clock (all W processes logged " ready on queues ", then a warm-up
  study of 2W trials ran through them); then ``automl run study.yaml --backend celery`` with
  ``parallelism: W``, a study of N trials of :mod:`fleet_model` (a user builder whose two fold
  models sleep 0.05 s in each validation pass: 2 folds x 5 epochs x 0.05 s = 0.5 s), random
  sampler, no pruner. The clock is the wall time of that subprocess, start to exit (its own
  start-up included: it is what a user waits for).
- **Optuna pattern**: W plain Python processes (this file, ``_optuna_worker``), each
  ``optuna.load_study(...)`` on the same storage and then ``study.optimize(objective,
  n_trials=N/W)`` (N split evenly: the exact budget), RandomSampler, NopPruner; the objective
  suggests one float and does 5 x (sleep 0.1 s; ``trial.report``; ``trial.should_prune()``).
  The processes start, load the study and wait before the clock; the clock runs from their
  common release time until the last one has exited.
- **Optuna pattern, clock at launch** (``--optuna-clock launch`` or ``both``): the same W
  processes with the clock started just before they are launched, and no barrier: each
  imports Optuna, loads the study and optimises at once. automl's clock counts ``automl run``'s
  own start-up; this side counts what the W processes of Optuna's pattern pay to start, which
  the side above leaves out. (automl's workers are a standing fleet, started before any clock;
  Optuna's pattern has no standing fleet: its processes are the study's.)

Storages: ``postgresql`` is a private PostgreSQL cluster (initdb/pg_ctl as the postgres user,
a free port, one database per cell); ``journal-redis`` is a private redis-server (Optuna's
JournalRedisBackend, ``redis://127.0.0.1:PORT/<cell>``; each measurement of Optuna's pattern
under its own key prefix there, see ``optuna_url``). The broker is another private
redis-server. The machine's own PostgreSQL (5432) and Redis (6379) are never touched. Each cell
is measured ``--repeats`` times, automl and Optuna interleaved (the order alternating), and
the median is reported; study names are unique per measurement.

Also reported, from the storage and the worker log: the median trial duration (Optuna's
``datetime_complete - datetime_start``; automl's ``datetime_start`` is when the coordinator
asked the sampler, so it includes the wait in the queue), the median of automl's own
``duration_s`` (measured inside the worker, around the training), the median dispatch latency
(from ``datetime_start`` to the worker's "training trial N" log line: both on this machine's
clock), and the coordinator's start-up (its start to the first trial's ``datetime_start``).
"Span efficiency" is the ideal time over first trial started to last trial done (process
start-up and exit left out). CPU: the worker processes' CPU seconds per trial and the
coordinator's CPU seconds (automl), the processes' CPU seconds per trial after the release
(Optuna), and the machine's busy cores over each clock; a note says when all cores were busy,
for then the figure measures the CPU cost per trial (or another load on the machine) rather
than coordination. The RSS and PSS of every worker process after the warm-up are recorded per
cell, and the RSS of the Optuna processes before the release.

Run it on a quiet machine: W=32 means 32 worker processes that import torch (about 0.4 GiB
each) and, on a machine with few cores, a CPU-bound run.

Logs stay in ``--logs`` (default: a new folder under /tmp); the databases are removed.
Ctrl-C or SIGTERM stops everything it started. Needs redis-server and PostgreSQL server
binaries (/usr/lib/postgresql/*/bin) and root (to run them as the postgres user).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from chaos import (
    PostgresCluster,
    RedisBroker,
    Stopped,
    WorkerPool,
    automl_command,
    wait_until,
    workspace,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EPOCHS = 5
EPOCH_SLEEP_S = 0.1
TRIAL_SLEEP_S = EPOCHS * EPOCH_SLEEP_S
STORAGES = ("postgresql", "journal-redis")
TRAINING_LINE = re.compile(
    r"^\[?(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}).*?training trial (\d+) of (\S+) on (\S+)", re.M
)

STUDY_YAML = """\
name: {name}
storage: "{storage}"
objective: {{metric: accuracy}}
data:
  source: sklearn:make_classification
  options: {{n_samples: 40, n_features: 4, random_state: 0}}
  cv: {{folds: 2, seed: 0}}
model: {{family: "python:fleet_model:build"}}
trainer: {{epochs: {epochs}, batch_size: 64, early_stopping: null, device: cpu}}
space:
  lr: {{low: 1.0e-3, high: 1.0e-1, log: true}}
search:
  sampler: {{type: random, seed: 0}}
  pruner: {{type: none}}
  n_trials: {n_trials}
execution: {{backend: celery, broker: "{broker}", queue: {queue}, parallelism: {parallelism}, \
trial_retries: 0}}
"""


# The same 0.5 s as your own function (``train: python:``): fleet_function.fit sleeps and
# reports as Optuna's pattern's objective does, so the two sides run the same code per trial.
FUNCTION_YAML = """\
name: {name}
storage: "{storage}"
objective: {{metric: score, direction: maximize}}
train: "python:fleet_function:fit"
space:
  lr: {{low: 1.0e-3, high: 1.0e-1, log: true}}
search:
  sampler: {{type: random, seed: 0}}
  pruner: {{type: none}}
  n_trials: {n_trials}
execution: {{backend: celery, broker: "{broker}", queue: {queue}, parallelism: {parallelism}, \
trial_retries: 0}}
"""
TRAINERS = ("builtin", "function")


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def stamp(text: str) -> float:
    """A logging ``asctime`` (local time, milliseconds) as seconds since the epoch."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()


# -- services -------------------------------------------------------------------------------


class Postgres(PostgresCluster):
    """chaos.py's private cluster, with room for two fleets of 32 connections and more."""

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c max_connections=300"
        )
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

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


@dataclass
class Services:
    """The private servers of one run of this script."""

    work: Path
    logs: Path
    broker: RedisBroker
    journal: RedisBroker | None = None
    postgres: Postgres | None = None

    def storage_url(self, kind: str, cell: int) -> str:
        """A fresh, empty storage of ``kind`` for cell number ``cell``."""
        if kind == "postgresql":
            assert self.postgres is not None
            return self.postgres.create_database(f"fleet_cell{cell}")
        import redis

        assert self.journal is not None
        db = cell % 16
        redis.Redis(port=self.journal.port, db=db).flushdb()
        return f"redis://127.0.0.1:{self.journal.port}/{db}"

    def stop(self) -> None:
        steps = [self.postgres.stop] if self.postgres is not None and self.postgres.running else []
        steps += [s.stop for s in (self.journal, self.broker) if s is not None]
        for step in steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - go on stopping the rest
                print(f"cleanup: {step.__qualname__} failed: {exc}", file=sys.stderr)
        if self.postgres is not None and self.postgres.log.exists():
            shutil.copy(self.postgres.log, self.logs / "postgres.log")


def start_services(
    storages: list[str], work: Path, logs: Path, services: list[Services]
) -> Services:
    """Start the broker and the storages; appended to ``services`` at once, for the cleanup."""
    s = Services(work, logs, RedisBroker(work / "broker", logs / "broker.log"))
    services.append(s)
    s.broker.start()
    if "journal-redis" in storages:
        s.journal = RedisBroker(work / "journal", logs / "journal-redis.log")
        s.journal.start()
    if "postgresql" in storages:
        s.postgres = Postgres(work / "postgres")
        s.postgres.init()
        s.postgres.start()
    return s


# -- reading a study back -------------------------------------------------------------------


def open_storage(url: str) -> Any:
    """The storage as plain Optuna opens it (no automl code): what the Optuna pattern uses. A
    journal URL may end in ``#PREFIX``: the journal kept under that key prefix (see
    :func:`optuna_url`)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if url.startswith("redis://"):
        from optuna.storages.journal import JournalRedisBackend

        url, _, prefix = url.partition("#")
        return optuna.storages.JournalStorage(JournalRedisBackend(url, prefix=prefix))
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def optuna_url(cell_url: str, name: str) -> str:
    """Where one measurement of Optuna's pattern keeps its study. A journal is one log for every
    study in it, read whole by whoever opens it: on the cell's own journal, automl's standing
    workers would replay the Optuna processes' thousands of entries at the next automl run (32
    processes on 2 cores: an 8 s stall measured), and each Optuna measurement would load the
    earlier ones. So each gets a journal of its own, under its name as the key prefix, in the
    same Redis database. On PostgreSQL a study reads only its own rows: the cell's database."""
    return f"{cell_url}#{name}" if cell_url.startswith("redis://") else cell_url


def read_trials(url: str, study: str) -> list[Any]:
    import optuna

    return list(
        optuna.load_study(study_name=study, storage=open_storage(url)).get_trials(deepcopy=False)
    )


def trial_figures(trials: list[Any], t0: float) -> dict[str, Any]:
    """States, median duration, and how the finished trials sit in the clock started at ``t0``."""
    done = [t for t in trials if t.datetime_start is not None and t.datetime_complete is not None]
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    starts = [t.datetime_start.timestamp() for t in trials if t.datetime_start is not None]
    return {
        "states": states,
        "median_trial_s": median(
            [(t.datetime_complete - t.datetime_start).total_seconds() for t in done]
        ),
        "first_start_after_s": round(min(starts) - t0, 3) if starts else None,
        "last_complete_after_s": round(max(t.datetime_complete.timestamp() for t in done) - t0, 3)
        if done
        else None,
    }


ENDED_LINE = re.compile(
    r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): [A-Z]+/MainProcess\] trial (\d+) of (\S+) ended "
)
NOTICED_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO (\S+): trial (\d+) (COMPLETE|PRUNED|FAIL)", re.M
)


def notice_latencies(worker_log: str, coordinator_log: str, study: str) -> list[float]:
    """Per trial: the worker's "trial N of STUDY ended" line to the coordinator's progress line
    for it (the coordinator has collected it: counted, and its slot is free to dispatch)."""
    ended = {
        int(m.group(2)): stamp(m.group(1))
        for m in ENDED_LINE.finditer(worker_log)
        if m.group(3) == study
    }
    noticed = {
        int(m.group(3)): stamp(m.group(1))
        for m in NOTICED_LINE.finditer(coordinator_log)
        if m.group(2) == f"{study}"
    }
    return [noticed[n] - ended[n] for n in ended if n in noticed]


def report_cost_s(storage_url: str, n_reports: int = 200) -> float:
    """Seconds per intermediate value as a worker reports it (automl's reporter, no pruner)."""
    import optuna

    from automl.runner.reporter import OptunaReporter
    from automl.search import make_storage

    study = optuna.create_study(
        storage=make_storage(storage_url, cached=False),
        study_name=f"report-cost-{os.getpid()}-{time.time_ns()}",
        pruner=optuna.pruners.NopPruner(),
    )
    trial = study.ask()
    reporter = OptunaReporter(optuna.trial.Trial(study, trial._trial_id))
    started = time.perf_counter()
    for step in range(n_reports):
        reporter.report(step, 0.5)
        reporter.should_prune()
    return (time.perf_counter() - started) / n_reports


def dispatch_latencies(trials: list[Any], worker_log: str, study: str) -> list[float]:
    """Per trial: its ``datetime_start`` to the worker's "training trial N of STUDY" line."""
    started = {
        int(m.group(2)): stamp(m.group(1))
        for m in TRAINING_LINE.finditer(worker_log)
        if m.group(3) == study
    }
    return [
        started[t.number] - t.datetime_start.timestamp()
        for t in trials
        if t.number in started and t.datetime_start
    ]


# -- automl ---------------------------------------------------------------------------------


@dataclass
class Cell:
    """One (W, storage) pair, with its fleet of workers."""

    index: int
    workers: int
    storage: str
    storage_url: str
    queue: str
    n_trials: int
    pool: WorkerPool | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ideal_s(self) -> float:
        return self.n_trials * TRIAL_SLEEP_S / self.workers


def add_efficiency(result: dict[str, Any], cell: Cell, ok: bool) -> None:
    """``efficiency``: ideal / wall; ``span_efficiency``: ideal / (first trial started to last
    trial done), which leaves out process start-up and exit. None for a run that failed."""
    span = (result["last_complete_after_s"] or 0.0) - (result["first_start_after_s"] or 0.0)
    result["efficiency"] = round(cell.ideal_s / result["wall_s"], 4) if ok else None
    result["span_efficiency"] = round(cell.ideal_s / span, 4) if ok and span > 0 else None


def fleet_env(broker: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path, AUTOML_LOG_LEVEL="INFO", AUTOML_BROKER=broker)


def write_study(
    path: Path, name: str, cell: Cell, broker: str, n_trials: int, trainer: str = "builtin"
) -> None:
    path.write_text((FUNCTION_YAML if trainer == "function" else STUDY_YAML).format(
        name=name, storage=cell.storage_url, broker=broker, queue=cell.queue, epochs=EPOCHS,
        n_trials=n_trials, parallelism=cell.workers,
    ))  # fmt: skip


def start_workers(cell: Cell, services: Services) -> WorkerPool:
    command = [
        *automl_command(), "worker", "--broker", services.broker.url, "--storage", cell.storage_url,
        "--queues", cell.queue, "--gpus", "none", "--concurrency", str(cell.workers),
    ]  # fmt: skip
    log = services.logs / f"workers-cell{cell.index}-w{cell.workers}-{cell.storage}.log"
    cell.pool = WorkerPool(command, fleet_env(services.broker.url), log, cell.workers)
    cell.pool.start()
    return cell.pool


def run_coordinator(
    study_file: Path, env: dict[str, str], log: Path, timeout_s: float
) -> tuple[int, float, float]:
    """``automl run --backend celery``: (exit code, start time, wall seconds)."""
    command = [*automl_command(), "run", str(study_file), "--backend", "celery"]
    with log.open("ab") as out:
        t0 = time.time()
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
        )
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            code = -1
        finally:
            wall = time.time() - t0
            stop_process(proc)
    return code, t0, wall


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def warm_up(cell: Cell, services: Services) -> dict[str, Any]:
    """A study of 2W trials through the fleet, so that every process has imported and loaded
    everything a trial needs; returns how many of the W processes trained one."""
    assert cell.pool is not None
    name = f"fleet-warmup-cell{cell.index}"
    study_file = services.logs / f"{name}.yaml"
    write_study(study_file, name, cell, services.broker.url, 2 * cell.workers)
    offset = len(cell.pool.text())
    code, _, wall = run_coordinator(
        study_file, fleet_env(services.broker.url), services.logs / f"{name}.log", 600
    )
    slots = {
        m.group(4) for m in TRAINING_LINE.finditer(cell.pool.text()[offset:]) if m.group(3) == name
    }
    if code != 0:
        raise RuntimeError(f"the warm-up study exited {code}; see {services.logs / f'{name}.log'}")
    if len(slots) < cell.workers:
        cell.notes.append(
            f"warm-up: only {len(slots)} of {cell.workers} worker processes trained a trial"
        )
    return {"wall_s": round(wall, 2), "processes_warmed": len(slots)}


def measure_automl(
    cell: Cell, services: Services, rep: int, timeout_s: float, trainer: str = "builtin"
) -> dict[str, Any]:
    assert cell.pool is not None
    name = f"fleet-automl-{trainer}-cell{cell.index}-r{rep}"
    study_file = services.logs / f"{name}.yaml"
    write_study(study_file, name, cell, services.broker.url, cell.n_trials, trainer)
    offset = len(cell.pool.text())
    before = (cpu_s(cell.pool.children()), children_cpu_s(), machine_busy_s())
    code, t0, wall = run_coordinator(
        study_file, fleet_env(services.broker.url), services.logs / f"{name}.log", timeout_s
    )
    workers_cpu = cpu_s(cell.pool.children()) - before[0]
    coordinator_cpu = children_cpu_s() - before[1]
    # The same command again finds the budget spent: its CPU is the start-up and exit alone.
    idle_before = children_cpu_s()
    run_coordinator(
        study_file, fleet_env(services.broker.url), services.logs / f"{name}-again.log", 120
    )
    idle_cpu = children_cpu_s() - idle_before
    trials = read_trials(cell.storage_url, name)
    result = {
        "study": name,
        "exit_code": code,
        "wall_s": round(wall, 3),
        "cpu_s_per_trial": round(workers_cpu / cell.n_trials, 4),  # the worker processes'
        "coordinator_cpu_s": round(coordinator_cpu, 2),  # its start-up and exit included
        "coordinator_cpu_ms_per_trial": round(
            1000 * max(0.0, coordinator_cpu - idle_cpu) / cell.n_trials, 2
        ),
        "cores_busy": round((machine_busy_s() - before[2]) / wall, 2),
        **trial_figures(trials, t0),
    }
    result["median_worker_duration_s"] = median(
        [float(t.user_attrs["duration_s"]) for t in trials if "duration_s" in t.user_attrs]
    )
    latencies = dispatch_latencies(trials, cell.pool.text()[offset:], name)
    result["median_dispatch_s"] = median(latencies)
    result["dispatch_measured_for"] = len(latencies)
    coordinator_log = (services.logs / f"{name}.log").read_text(errors="replace")
    notices = notice_latencies(cell.pool.text()[offset:], coordinator_log, name)
    result["median_notice_s"] = median(notices)
    result["notice_measured_for"] = len(notices)
    complete = result["states"].get("COMPLETE", 0)
    add_efficiency(result, cell, code == 0 and complete == cell.n_trials)
    return result


# -- Optuna's pattern -----------------------------------------------------------------------


def optuna_worker(config: dict[str, Any]) -> int:
    """One process of the Optuna pattern: load the study, wait for the release, optimise."""
    import optuna

    study = optuna.load_study(
        study_name=config["study"],
        storage=open_storage(config["storage"]),
        sampler=optuna.samplers.RandomSampler(seed=config["seed"]),
        pruner=optuna.pruners.NopPruner(),
    )
    Path(config["ready"]).touch()
    go = Path(config["go"])
    while not go.exists():
        time.sleep(0.02)
    time.sleep(max(0.0, float(go.read_text()) - time.time()))

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        for step in range(1, EPOCHS + 1):
            time.sleep(EPOCH_SLEEP_S)
            trial.report(lr * step, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return lr

    study.optimize(objective, n_trials=config["n_trials"])
    return 0


def wait_code(proc: subprocess.Popen[bytes], deadline: float) -> int:
    try:
        return proc.wait(timeout=max(1.0, deadline - time.time()))
    except subprocess.TimeoutExpired:
        return -1


def all_ready(procs: list[subprocess.Popen[bytes]], barrier: Path) -> bool:
    """True once every process has loaded the study; raises when one has died instead."""
    dead = [p.returncode for p in procs if p.poll() is not None]
    if dead:
        raise RuntimeError(f"an Optuna process exited {dead[0]} before the start; see its log")
    return len(list(barrier.glob("ready-*"))) == len(procs)


def split(n: int, k: int) -> list[int]:
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def release(go: Path, t0: float) -> float:
    """Tell the Optuna processes to start optimising at ``t0`` (written whole, then renamed into
    place, so that none reads half a time); returns ``t0``."""
    tmp = go.with_suffix(".tmp")
    tmp.write_text(repr(t0))
    tmp.rename(go)
    return t0


def measure_optuna(
    cell: Cell, services: Services, rep: int, timeout_s: float, at_launch: bool = False
) -> dict[str, Any]:
    """Optuna's pattern; ``at_launch``: the clock starts before the processes are launched and
    they start optimising as soon as they have loaded the study (no barrier)."""
    import optuna

    name = f"fleet-optuna{'-launch' if at_launch else ''}-cell{cell.index}-r{rep}"
    url = optuna_url(cell.storage_url, name)
    optuna.create_study(study_name=name, storage=open_storage(url), direction="maximize")
    barrier = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=services.work))
    cpu_before = children_cpu_s()
    go = barrier / "go"
    procs: list[subprocess.Popen[bytes]] = []
    log = (services.logs / f"{name}.log").open("ab")
    rss: list[float] = []
    try:
        if at_launch:  # released before they are launched; every CPU second they use counts
            t0 = release(go, time.time())
            before = (0.0, machine_busy_s())
        for i, n in enumerate(split(cell.n_trials, cell.workers)):
            config = {"study": name, "storage": url, "seed": i, "n_trials": n,
                      "ready": str(barrier / f"ready-{i}"), "go": str(go)}  # fmt: skip
            command = [
                sys.executable,
                str(Path(__file__).resolve()),
                "_optuna_worker",
                json.dumps(config),
            ]
            procs.append(
                subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
                )
            )
        if not at_launch:
            wait_until(
                lambda: all_ready(procs, barrier),
                600,
                f"{len(procs)} Optuna processes to load the study",
            )
            rss = [memory_kib(p.pid).get("vmrss", 0) / 1024 for p in procs]
            t0 = release(go, time.time() + 0.5)
            time.sleep(max(0.0, t0 - time.time()))
            before = (cpu_s([p.pid for p in procs]), machine_busy_s())
        codes = [wait_code(p, t0 + timeout_s) for p in procs]
        wall = time.time() - t0
        busy = machine_busy_s() - before[1]
    finally:
        for p in procs:
            stop_process(p)
        log.close()
    trials = read_trials(url, name)
    result = {
        "study": name,
        "exit_codes": sorted(set(codes)),
        "wall_s": round(wall, 3),
        # The processes' CPU after the release (at launch: their start-up and load_study too).
        "cpu_s_per_trial": round((children_cpu_s() - cpu_before - before[0]) / cell.n_trials, 4),
        "cores_busy": round(busy / wall, 2),
        "process_rss_mib_median": round(statistics.median(rss), 1) if rss else None,
        **trial_figures(trials, t0),
    }
    add_efficiency(
        result, cell, set(codes) == {0} and result["states"].get("COMPLETE", 0) == cell.n_trials
    )
    return result


# -- CPU and memory -------------------------------------------------------------------------


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of these live processes so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def children_cpu_s() -> float:
    """CPU seconds of this script's children that have exited and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores, everyone's processes)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS  # less idle and iowait


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and Pss of one process, in KiB (Pss shares shared pages out among their users)."""
    figures = {}
    for path, key in ((f"/proc/{pid}/status", "VmRSS:"), (f"/proc/{pid}/smaps_rollup", "Pss:")):
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    figures[key.rstrip(":").lower()] = int(line.split()[1])
                    break
        except OSError:
            pass
    return figures


def available_mib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return -1


def pool_memory(pool: WorkerPool, available_before_mib: int) -> dict[str, Any]:
    per = [memory_kib(pid) for pid in pool.children()]
    rss = [p["vmrss"] / 1024 for p in per if "vmrss" in p]
    pss = [p["pss"] / 1024 for p in per if "pss" in p]
    return {
        "processes": len(per),
        "rss_mib_median": round(statistics.median(rss), 1) if rss else None,
        "rss_mib_max": round(max(rss), 1) if rss else None,
        "pss_mib_median": round(statistics.median(pss), 1) if pss else None,
        "pss_mib_total": round(sum(pss), 1) if pss else None,
        "available_mib_before": available_before_mib,
        "available_mib_after_warm_up": available_mib(),
    }


# -- the run --------------------------------------------------------------------------------


def run_cell(cell: Cell, services: Services, args: argparse.Namespace) -> dict[str, Any]:
    before = available_mib()
    say(
        f"cell {cell.index}: W={cell.workers} {cell.storage}, N={cell.n_trials} (ideal "
        f"{cell.ideal_s:.1f} s): starting workers"
    )
    pool = start_workers(cell, services)
    warm = warm_up(cell, services)
    warm["report_cost_ms"] = round(1000 * report_cost_s(cell.storage_url), 3)
    memory = pool_memory(pool, before)
    say(f"  warm-up {warm}; memory {memory}")
    optuna_sides = {"release": ["optuna"], "launch": ["optuna_launch"]}.get(
        args.optuna_clock, ["optuna", "optuna_launch"]
    )
    runs: dict[str, list[dict[str, Any]]] = {
        **{side: [] for side in optuna_sides},
        **{t: [] for t in args.trainers},
    }
    timeout_s = max(300.0, 20 * cell.ideal_s)
    sides = [*args.trainers, *optuna_sides]
    try:
        for rep in range(args.repeats):
            order = sides[rep % len(sides) :] + sides[: rep % len(sides)]  # each side first in turn
            for which in order:
                if which.startswith("optuna"):
                    launch = which == "optuna_launch"
                    runs[which].append(measure_optuna(cell, services, rep, timeout_s, launch))
                else:
                    runs[which].append(measure_automl(cell, services, rep, timeout_s, which))
                last = runs[which][-1]
                say(
                    f"  repeat {rep} {which:8s}: wall {last['wall_s']:.2f} s, efficiency "
                    f"{last['efficiency']}, "
                    f"median trial {last['median_trial_s']} s, states {last['states']}"
                )
    finally:
        pool.stop()
    return summarise(cell, warm, memory, runs)


COMMON_KEYS = ("efficiency", "span_efficiency", "wall_s", "median_trial_s", "first_start_after_s",
               "cpu_s_per_trial", "cores_busy")  # fmt: skip
AUTOML_KEYS = (
    *COMMON_KEYS,
    "median_worker_duration_s",
    "median_dispatch_s",
    "median_notice_s",
    "coordinator_cpu_s",
    "coordinator_cpu_ms_per_trial",
)
OPTUNA_KEYS = (*COMMON_KEYS, "process_rss_mib_median")


def summarise(
    cell: Cell, warm: dict[str, Any], memory: dict[str, Any], runs: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """The medians over the repeats (None where a run failed), and every run as measured.
    ``automl`` is the built-in trainer's side, ``automl_function`` your own function's;
    ``optuna_launch`` Optuna's pattern with the clock at the processes' launch."""

    def med(side: list[dict[str, Any]], key: str) -> float | None:
        values = [r[key] for r in side if r.get(key) is not None]
        return median(values) if side and len(values) == len(side) else None

    names = {"builtin": "automl", "function": "automl_function"}
    empty = dict.fromkeys(AUTOML_KEYS)
    out = {
        "workers": cell.workers, "storage": cell.storage, "n_trials": cell.n_trials,
        "ideal_s": round(cell.ideal_s, 3), "warm_up": warm, "memory": memory, "notes": cell.notes,
    }  # fmt: skip
    for side in ("optuna", "optuna_launch"):
        out[side] = {k: med(runs.get(side, []), k) for k in OPTUNA_KEYS}
        out[f"{side}_runs"] = runs.get(side, [])
    for trainer, key in names.items():
        side = runs.get(trainer, [])
        out[key] = {k: med(side, k) for k in AUTOML_KEYS} if side else empty
        out[f"{key}_runs"] = side
    return out


def fmt(value: Any, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


DETAILS_HEADER = (
    "\n| W | storage | N | ideal s | automl wall s | Optuna wall s | automl span efficiency "
    "| Optuna span efficiency | automl first trial after s | automl in-worker trial s "
    "| automl dispatch s | automl notice s | report ms | automl worker CPU s/trial | "
    "automl coordinator CPU s | Optuna CPU s/trial | cores busy automl/Optuna "
    "| worker RSS MiB | worker PSS MiB |"
)


def print_tables(cells: list[dict[str, Any]]) -> None:
    print(
        "\n| W | storage | automl, built-in trainer | automl, your function | Optuna pattern "
        "| Optuna pattern, clock at launch | coordinator CPU ms/trial (built-in / function) "
        "| in-worker trial s (built-in / function) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for c in cells:
        a, f, o, ol = c["automl"], c["automl_function"], c["optuna"], c["optuna_launch"]
        print(
            f"| {c['workers']} | {c['storage']} | {fmt(a['efficiency'], 3)} | "
            f"{fmt(f['efficiency'], 3)} | {fmt(o['efficiency'], 3)} | {fmt(ol['efficiency'], 3)} "
            f"| {fmt(a['coordinator_cpu_ms_per_trial'], 1)} / "
            f"{fmt(f['coordinator_cpu_ms_per_trial'], 1)} | "
            f"{fmt(a['median_worker_duration_s'], 3)} / {fmt(f['median_worker_duration_s'], 3)} |"
        )
    print(DETAILS_HEADER)
    print("| --- " * (DETAILS_HEADER.count(" | ") + 1) + "|")
    for c in cells:
        a, o, m = c["automl"], c["optuna"], c["memory"]
        row = [
            c["workers"],
            c["storage"],
            c["n_trials"],
            f"{c['ideal_s']:.1f}",
            fmt(a["wall_s"]),
            fmt(o["wall_s"]),
            fmt(a["span_efficiency"], 3),
            fmt(o["span_efficiency"], 3),
            fmt(a["first_start_after_s"]),
            fmt(a["median_worker_duration_s"], 3),
            fmt(a["median_dispatch_s"], 3),
            fmt(a["median_notice_s"], 3),
            fmt(c["warm_up"].get("report_cost_ms"), 2),
            fmt(a["cpu_s_per_trial"], 3),
            fmt(a["coordinator_cpu_s"], 1),
            fmt(o["cpu_s_per_trial"], 3),
            f"{fmt(a['cores_busy'])} / {fmt(o['cores_busy'])}",
            fmt(m["rss_mib_median"], 0),
            fmt(m["pss_mib_median"], 0),
        ]
        print("| " + " | ".join(str(v) for v in row) + " |")
    cores = os.cpu_count() or 1
    for c in cells:
        for side in ("automl", "optuna", "optuna_launch"):
            if (c[side]["cores_busy"] or 0) > 0.85 * cores:
                c["notes"].append(
                    f"{side}: the machine's {cores} cores were busy (CPU-bound, not only "
                    "coordination)"
                )
        for note in c["notes"]:
            print(f"note (W={c['workers']} {c['storage']}): {note}")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--workers", type=int, nargs="+", default=[8, 32], help="fleet sizes W (default: 8 32)"
    )
    p.add_argument(
        "--storages", nargs="+", choices=STORAGES, default=list(STORAGES), help="(default: both)"
    )
    p.add_argument(
        "--trials",
        type=int,
        help="trials per study, for every W (default: --trials-per-worker x W)",
    )
    p.add_argument(
        "--trials-per-worker",
        type=int,
        default=30,
        help="N = this x W: 15 s of ideal time at 30 (default: 30)",
    )
    p.add_argument(
        "--trainers", nargs="+", choices=TRAINERS, default=list(TRAINERS),
        help="automl's sides: the built-in trainer, your own function (default: both)",
    )  # fmt: skip
    p.add_argument(
        "--optuna-clock",
        choices=["release", "launch", "both"],
        default="release",
        help="Optuna's pattern timed from the release of its loaded processes, from their "
        "launch, or both sides (default: release)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="measurements per cell and side; the median is reported (default: 3)",
    )
    p.add_argument(
        "--logs",
        type=Path,
        help="folder for the logs and study files (default: a new one under /tmp)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("/tmp/bench_fleet.json"),
        help="the JSON result (default: %(default)s)",
    )
    return p.parse_args()


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "_optuna_worker":
        return optuna_worker(json.loads(sys.argv[2]))
    args = parse_args()
    logs, work = workspace("automl-fleet", args.logs)
    started = time.monotonic()
    services: list[Services] = []
    cell: Cell | None = None
    results: list[dict[str, Any]] = []
    try:
        say(f"logs in {logs}; databases in {work}")
        s = start_services(args.storages, work, logs, services)
        for w in args.workers:
            for kind in args.storages:
                index = len(results)
                cell = Cell(
                    index,
                    w,
                    kind,
                    s.storage_url(kind, index),
                    f"fleet-cell{index}",
                    args.trials or args.trials_per_worker * w,
                )
                results.append(run_cell(cell, s, args))
                cell = None
    except Stopped as exc:
        print(f"\nstopped by {exc}; stopping everything this script started", file=sys.stderr)
        return 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleaning short
        if cell is not None and cell.pool is not None:
            cell.pool.stop()
        for s in services:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    out = {
        "command": " ".join(["python", "benchmarks/bench_fleet.py", *sys.argv[1:]]),
        "trial_sleep_s": TRIAL_SLEEP_S,
        "cpus": os.cpu_count(),
        "wall_s": round(time.monotonic() - started, 1),
        "logs": str(logs),
        "cells": results,
    }
    print_tables(results)
    args.out.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"\nwhole run {out['wall_s']:.0f} s; written to {args.out}; logs in {logs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
