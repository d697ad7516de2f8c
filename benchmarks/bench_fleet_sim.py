"""A fleet of up to 1,000 workers, simulated: virtual workers that speak the real protocol of
``automl worker``, driven by the real coordinator, against real Redis and PostgreSQL servers.

    python benchmarks/bench_fleet_sim.py --workers 1000 --storage postgresql --repeats 3
    python benchmarks/bench_fleet_sim.py --workers 1000 --storage journal-redis --repeats 3
    python benchmarks/bench_fleet_sim.py --workers 10 --trials 60 --side automl   # a quick look
    flock /tmp/bench.lock python benchmarks/bench_fleet_sim.py ...   # for every timing run

Every trial is ``SIM_EPOCHS`` x ``SIM_EPOCH_S`` (``--epochs 5 --epoch-s 1.0``: 5 s) of sleep
with a report per epoch (:mod:`sim_model`), so the ideal rate is N / 5 s: 200 trials/s at
1,000 workers. ``--trials M`` (default max(60, 6N)) bounds each run; ``--duration-s D`` stops
it after D seconds instead (automl: Ctrl-C to the coordinator; Optuna: the threads are left
where they are) and measures what it did, ``--timeout-s`` does the same as a safety net. Each
repeat runs both sides (``--side both``), their order alternating; the medians over
``--repeats`` are reported. ``--quiet-wait-s`` waits before each run for other sessions' load
to drop; ``--profile PATH`` runs the coordinator under cProfile.

**automl.** ``automl run study.yaml --backend celery`` (the real coordinator, a subprocess,
``parallelism: N``, random sampler, no pruner, ``trial_retries: 0``) on a private Redis
broker, and N virtual workers: K = ceil(N / ``--threads-per-process``) processes
(:mod:`fleet_sim_workers`) of up to 125 threads, each thread one worker slot that pops the
Celery message from the queue's Redis list and calls the real
:meth:`automl.worker.tasks.TrialWorker.deliver` (open, claim with ``SET NX`` + lease, lease
renewer thread, :func:`automl.runner.execute.execute_trial` with its reports and tell, release,
announcement on the broker). The workers are started and ready before the coordinator starts.

What differs from a real ``automl worker`` (see :mod:`fleet_sim_workers`):

- threads, not processes: T slots share one Python process, its GIL, its storage object and
  automl's per-process caches (the parsed study file, the study object); a real fleet has one
  process, one storage object and one database connection per slot. On the journal storage
  this matters: every storage object replays every journal entry once, so the simulated fleet
  reads each entry K + 1 times where a real one reads it N + 1 times (the journal's reads per
  trial grow with the number of worker *processes*; see the journal Redis commands per trial);
- no Celery consumer: the message is taken from the queue's Redis list with the same ``BRPOP``
  and recorded as unacknowledged and acknowledged with the same ``MULTI`` blocks as kombu's
  Redis transport, but there is no Celery worker around it (no ``celery@`` pidbox, no periodic
  restore of unacknowledged messages, no prefetch, no task-protocol bookkeeping, no worker
  log at INFO: workers log at WARNING);
- the storage's SQLAlchemy pool is sized to one connection per thread (the default 5 + 10
  would time out with 125 threads); everything else is automl's code as ``automl worker`` runs
  it, including ``pool_pre_ping``;
- the trial is a sleep (no torch, no GPU), so the CPU measured is coordination alone.

**Optuna's pattern.** The same N threads in the same K processes, each with its own
``optuna.load_study`` on one shared study (RandomSampler seeded per thread, NopPruner; the
storage object shared per process, as on automl's side) and ``study.optimize(objective,
n_trials=M/N)``: suggest, then per epoch sleep, ``report`` and ``should_prune``. Released
together once every thread has loaded the study.

**Figures** (per run; medians over the repeats):

- ``trials_per_s``: sustained, over the steady window: from the end of the first wave (the
  N-th trial to end) to the start of the last (the (M - N)-th), when M >= 3N; else from 10% to
  90% of the ends; in a run stopped by ``--duration-s``, from the N-th end (at most a third of
  the ends) to the last end before the stop. ``trials_per_s_whole_run``: trials over first
  start to last end. Counters per trial are divided by the trials COMPLETE.
- ``coordinator_cpu_ms_per_trial``: the coordinator's CPU (``/proc``) over the window, per
  trial ended in it; ``..._whole_run``: its total CPU (``wait4``) over M, start-up included.
- ``cpu_ms_per_trial`` and ``cores_busy`` by component over the window: ``coordinator``,
  ``workers`` (the K processes), ``postgres`` (the server and its backends), ``broker`` and
  ``journal`` (the redis-servers), ``benchmark`` (this script), ``machine`` (every busy core on
  the machine; ``other`` is the machine less the rest: other sessions' work); ``machine_cpu_busy``:
  busy / (window x cores); ``fleet_cpu_busy``: the same for this benchmark's processes only.
- ``p50_next_trial_ms``, ``p99_next_trial_ms``: per slot, from the end of one trial's function
  to the start of the slot's next one (the slot stands idle meanwhile: automl's tell, release,
  announcement, the coordinator's notice and dispatch, the message, open and claim; Optuna's
  tell, ask and suggest).
- ``statements_per_trial``: PostgreSQL statements on the study's database over the whole run
  per trial, from ``pg_stat_statements`` (BEGIN and COMMIT included; also without them, and
  the top statements); where the server lacks it, transactions from ``pg_stat_database``.
  On the journal storage: the journal Redis' commands per trial (``INFO commandstats``).
- ``redis_commands_per_trial``: the broker's commands per trial (``INFO commandstats``; the
  benchmark's own INFO left out), with the top commands.
- checks: the exact budget (M trials, all COMPLETE), each trial's function ran once
  (``trained_twice`` empty), and the errors the virtual workers recorded.

Servers: a private PostgreSQL cluster (``pg_stat_statements`` loaded, ``max_connections``
sized to the fleet), a private redis-server as the broker and another as the journal, on free
ports in a temporary folder; the machine's own 5432 and 6379 are never touched unless
``--storage-url`` and ``--broker-url`` name them (the test does that, with unique study and
queue names; then CPU by server is not measured). Ctrl-C or SIGTERM stops everything it
started. The last line of the output is one JSON object (the summary); ``--out`` gets every
run in full. Needs root for the private PostgreSQL (run as the postgres user).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from chaos import PostgresCluster, RedisBroker, Stopped, automl_command, workspace
from fleet_sim_measure import (
    CpuSampler,
    PgCounter,
    machine_busy_s,
    next_trial_gaps,
    percentile,
    proc_cpu_s,
    redis_commands,
    redis_delta,
    training_checks,
    window_figures,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STORAGES = ("postgresql", "journal-redis")

STUDY_YAML = """\
name: {name}
storage: "{storage}"
objective: {{metric: total, direction: maximize}}
train: python:sim_model:fit
space:
  lr: {{low: 1.0e-3, high: 1.0e-1, log: true}}
search:
  sampler: {{type: random, seed: 0}}
  pruner: {{type: none}}
  n_trials: {n_trials}
execution:
  backend: celery
  broker: "{broker}"
  queue: {queue}
  parallelism: {workers}
  trial_retries: 0
"""


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def split(n: int, k: int) -> list[int]:
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    return done.stdout.strip()


# -- servers --------------------------------------------------------------------------------


class Postgres(PostgresCluster):
    """chaos.py's private cluster, with pg_stat_statements and room for the whole fleet."""

    max_connections = 300

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
            f" -c max_connections={self.max_connections}"
            " -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.max=10000"
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
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])


class Servers:
    """The broker and the storage: private servers, or the ones the flags name."""

    def __init__(self, args: argparse.Namespace, work: Path, logs: Path) -> None:
        self.args, self.work, self.logs = args, work, logs
        self.broker: RedisBroker | None = None
        self.journal: RedisBroker | None = None
        self.postgres: Postgres | None = None

    def start(self) -> None:
        a = self.args
        if a.broker_url is None:
            self.broker = RedisBroker(self.work / "broker", self.logs / "broker.log")
            self.broker.start()
        if a.storage_url is None and a.storage == "journal-redis":
            self.journal = RedisBroker(self.work / "journal", self.logs / "journal.log")
            self.journal.start()
        if a.storage_url is None and a.storage == "postgresql":
            self.postgres = Postgres(self.work / "postgres")
            self.postgres.max_connections = max(300, int(1.2 * a.workers) + 100)
            self.postgres.init()
            self.postgres.start()

    @property
    def broker_url(self) -> str:
        return self.args.broker_url or self.broker.url  # type: ignore[union-attr]

    def fresh_storage(self, tag: str) -> tuple[str, PgCounter | None]:
        """An empty storage for one run (private servers), or the named one; its counter."""
        import redis

        if self.args.storage_url:
            url = self.args.storage_url
            if self.args.storage == "postgresql":
                return url, PgCounter(url, url.rsplit("/", 1)[1].split("?")[0])
            return url, None
        if self.postgres is not None:
            import psycopg

            with psycopg.connect(self.postgres.url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{tag}"')
            url = self.postgres.url.rsplit("/", 1)[0] + f"/{tag}"
            return url, PgCounter(self.postgres.url, tag)
        assert self.journal is not None
        redis.Redis(port=self.journal.port).flushall()
        return self.journal.url, None

    def journal_url(self, storage_url: str) -> str | None:
        return storage_url if self.args.storage == "journal-redis" else None

    def trees(self) -> dict[str, int]:
        """Server processes whose CPU is measured (private servers only)."""
        out = {}
        if self.postgres is not None:
            out["postgres"] = self.postgres.postmaster_pid()
        for name, server in (("broker", self.broker), ("journal", self.journal)):
            if server is not None and server.proc is not None:
                out[name] = server.proc.pid
        return out

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


# -- processes ------------------------------------------------------------------------------


def wait_exit(proc: subprocess.Popen[bytes], deadline: float) -> tuple[int | None, float]:
    """Wait for ``proc`` until ``deadline``: (exit code or None, its CPU seconds from wait4)."""
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_utime + usage.ru_stime
        if time.time() >= deadline:
            return None, 0.0
        time.sleep(0.1)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.returncode is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what it started
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=30)
        except (subprocess.TimeoutExpired, ChildProcessError):
            pass


class Fleet:
    """K processes of virtual workers (:mod:`fleet_sim_workers`) for one run."""

    def __init__(self, mode: str, folder: Path, config: dict[str, Any], args: argparse.Namespace):
        self.mode, self.folder, self.config, self.args = mode, folder, config, args
        self.procs: list[subprocess.Popen[bytes]] = []
        self.cpu_s = 0.0

    def start(self, threads_per_process: list[int], n_trials: list[list[int]] | None) -> None:
        env = dict(
            os.environ,
            SIM_EPOCHS=str(self.args.epochs),
            SIM_EPOCH_S=str(self.args.epoch_s),
            PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        )
        for i, threads in enumerate(threads_per_process):
            config = dict(
                self.config,
                mode=self.mode,
                index=i,
                threads=threads,
                work=str(self.folder),
                out=str(self.folder / f"out-{i}.json"),
                n_trials=n_trials[i] if n_trials else None,
            )
            with (self.folder / f"workers-{i}.log").open("ab") as log:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, str(HERE / "fleet_sim_workers.py"), json.dumps(config)],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=env,
                        cwd=ROOT,
                        start_new_session=True,
                    )
                )

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.time() + timeout_s
        while len(list(self.folder.glob("ready-*"))) < len(self.procs):
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                raise RuntimeError(
                    f"a worker process exited {dead[0].returncode} before it was "
                    f"ready; see {self.folder}/workers-*.log"
                )
            if time.time() > deadline:
                raise RuntimeError(f"the worker processes were not ready within {timeout_s:.0f} s")
            time.sleep(0.2)

    def wait(self, deadline: float) -> bool:
        """Wait for every process to exit (their CPU adds up in ``cpu_s``); False at deadline."""
        ok = True
        for proc in self.procs:
            if proc.returncode is not None:
                continue
            code, cpu = wait_exit(proc, deadline)
            self.cpu_s += cpu
            ok = ok and code is not None
        return ok

    def stop(self, grace_s: float = 90) -> None:
        (self.folder / "stop").touch()
        if not self.wait(time.time() + grace_s):
            say("  some worker processes did not stop in time; killed")
        self.kill()

    def kill(self) -> None:
        for proc in self.procs:
            kill_group(proc)

    def results(self) -> dict[str, Any]:
        calls: list[list[Any]] = []
        deliveries: list[dict[str, Any]] = []
        errors: list[str] = []
        for i in range(len(self.procs)):
            path = self.folder / f"out-{i}.json"
            if not path.exists():
                errors.append(f"worker process {i} wrote no results")
                continue
            data = json.loads(path.read_text())
            calls += data["calls"]
            deliveries += data["deliveries"]
            errors += data["errors"]
        return {"calls": calls, "deliveries": deliveries, "errors": errors}


# -- one run --------------------------------------------------------------------------------


class Run:
    """One measured run of one side."""

    def __init__(self, side: str, rep: int, servers: Servers, args: argparse.Namespace, work: Path):
        self.side, self.rep, self.servers, self.args = side, rep, servers, args
        token = uuid.uuid4().hex[:8]
        self.tag = f"sim_{side}_r{rep}_{token}"
        self.study = f"sim-{side}-r{rep}-{token}"
        self.queue = f"sim-{token}"
        self.folder = work / self.tag
        self.folder.mkdir()
        self.folder.chmod(0o755)
        self.storage_url, self.pg = servers.fresh_storage(self.tag)
        n, k = args.workers, math.ceil(args.workers / args.threads_per_process)
        self.threads = split(n, k)
        self.fleet = Fleet(
            side,
            self.folder,
            {
                "storage": self.storage_url,
                "broker": servers.broker_url,
                "queue": self.queue,
                "study": self.study,
                "lease_s": args.lease_s,
            },
            args,
        )
        self.coordinator: subprocess.Popen[bytes] | None = None

    def counters(self) -> dict[str, Any]:
        journal = self.servers.journal_url(self.storage_url)
        return {
            "broker": redis_commands(self.servers.broker_url),
            "journal": redis_commands(journal) if journal else None,
        }

    def execute(self) -> dict[str, Any]:
        from automl.search import make_storage

        args = self.args
        if self.side == "optuna":
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            optuna.create_study(
                study_name=self.study,
                direction="maximize",
                storage=make_storage(self.storage_url, cached=False),
            )
            per_thread = split(args.trials, args.workers)
            n_trials, at = [], 0
            for t in self.threads:
                n_trials.append(per_thread[at : at + t])
                at += t
            self.fleet.start(self.threads, n_trials)
        else:
            # the schema, before K processes race for it
            make_storage(self.storage_url, cached=False)
            self.fleet.start(self.threads, None)
        self.fleet.wait_ready(600)
        own = [p.pid for p in self.fleet.procs]
        self.busy_before = wait_for_quiet(args.quiet_wait_s, args.quiet_cores, own)
        pg_before = self.pg.snapshot() if self.pg else None
        redis_before = self.counters()
        sampler = CpuSampler(args.sample_s)
        sampler.add_group("workers", [p.pid for p in self.fleet.procs])
        for name, pid in self.servers.trees().items():
            sampler.add_tree(name, pid)
        sampler.start()
        started = time.time()
        stop_at = started + (args.duration_s or args.timeout_s)
        self.stopped_at: float | None = None
        coordinator_cpu, code = None, None
        try:
            if self.side == "automl":
                code, coordinator_cpu = self._coordinate(sampler, stop_at)
                redis_after = self.counters()
                self.fleet.stop()
            else:
                go = self.folder / "go"
                (self.folder / "go.tmp").write_text(repr(time.time() + 0.5))
                (self.folder / "go.tmp").rename(go)
                finished = self.fleet.wait(stop_at)
                code = 0 if finished else None
                if not finished:
                    self.stopped_at = time.time()
                redis_after = self.counters()
                if not finished:
                    self.fleet.stop(grace_s=30)
        finally:
            self.fleet.kill()
            if self.coordinator is not None:
                kill_group(self.coordinator)
            sampler.stop()
        wall = (self.stopped_at or time.time()) - started
        pg_after = self.pg.snapshot() if self.pg else None
        return self.figures(
            code, wall, coordinator_cpu, sampler, (pg_before, pg_after), (redis_before, redis_after)
        )

    def _coordinate(self, sampler: CpuSampler, stop_at: float) -> tuple[int | None, float]:
        """``automl run``; at ``stop_at`` it gets Ctrl-C (SIGINT), as a person would give it."""
        spec = self.folder / "study.yaml"
        spec.write_text(
            STUDY_YAML.format(
                name=self.study,
                storage=self.storage_url,
                n_trials=self.args.trials,
                broker=self.servers.broker_url,
                queue=self.queue,
                workers=self.args.workers,
            )
        )
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        )
        with (self.folder / "coordinator.log").open("ab") as log:
            self.coordinator = subprocess.Popen(
                [*self.coordinator_command(), "run", str(spec), "--backend", "celery"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=HERE,
                start_new_session=True,
            )
        sampler.add("coordinator", self.coordinator.pid)
        code, cpu = wait_exit(self.coordinator, stop_at)
        if code is None:
            self.stopped_at = time.time()
            say(f"  stopping the coordinator at {self.stopped_at - stop_at:+.0f} s (Ctrl-C)")
            self.coordinator.send_signal(signal.SIGINT)
            code, cpu = wait_exit(self.coordinator, time.time() + 300)
        elif code != 0:
            tail = (self.folder / "coordinator.log").read_text(errors="replace")[-3000:]
            say(f"  the coordinator exited {code}; its log ends:\n{tail}")
        return code, cpu

    def coordinator_command(self) -> list[str]:
        """``automl``, or ``python -m cProfile -o FILE -m automl`` with ``--profile``."""
        if not self.args.profile:
            return automl_command()
        out = self.args.profile.with_suffix(f".{self.tag}.prof")
        return [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "automl"]

    def figures(
        self,
        code: int | None,
        wall: float,
        coordinator_cpu: float | None,
        sampler: CpuSampler,
        pg: tuple[Any, Any],
        redis_counts: tuple[dict[str, Any], dict[str, Any]],
    ) -> dict[str, Any]:
        import optuna

        from automl.search import make_storage

        args = self.args
        rec = self.fleet.results()
        storage = make_storage(self.storage_url, cached=False)
        trials = optuna.load_study(study_name=self.study, storage=storage).get_trials(
            deepcopy=False
        )
        states = {t.number: t.state.name for t in trials}
        counts = Counter(states.values())
        # Counters are per trial completed: the budget, unless the run was stopped first.
        m = max(1, counts.get("COMPLETE", 0))
        out: dict[str, Any] = {
            "side": self.side,
            "rep": self.rep,
            "study": self.study,
            "exit_code": code,
            "wall_s": round(wall, 2),
            "processes": len(self.threads),
            "threads": self.threads[0],
            "stopped_early": self.stopped_at is not None,
            "machine_busy_cores_before": self.busy_before,
            "states": dict(counts),
            "trials_in_storage": len(trials),
            "budget_exact": counts.get("COMPLETE", 0) == args.trials and len(trials) == args.trials,
        }
        out.update(training_checks(rec["calls"], states))
        win = window_figures(rec["calls"], args.workers, sampler, self.stopped_at)
        out.update(win)
        gaps = next_trial_gaps(rec["calls"])
        out["next_trial_gaps"] = len(gaps)
        for q in (50, 90, 99):
            value = percentile(gaps, q)
            out[f"p{q}_next_trial_ms"] = round(1000 * value, 1) if value is not None else None
        cpu = win.get("cpu_ms_per_trial", {})
        out["coordinator_cpu_ms_per_trial"] = cpu.get("coordinator")
        out["coordinator_cpu_ms_per_trial_whole_run"] = (
            round(1000 * coordinator_cpu / m, 2) if coordinator_cpu else None
        )
        out["worker_cpu_ms_per_trial"] = cpu.get("workers")
        if self.side == "automl":
            out.update(worker_path(rec["calls"], rec["deliveries"]))
        if pg[0] is not None and self.pg is not None:
            out["postgres"] = {"source": self.pg.source, **PgCounter.delta(pg[0], pg[1], m)}
            out["statements_per_trial"] = out["postgres"].get(
                "statements_per_trial", out["postgres"]["transactions_per_trial"]
            )
        broker = redis_delta(redis_counts[0]["broker"], redis_counts[1]["broker"], m)
        out["broker"] = broker
        out["redis_commands_per_trial"] = broker["commands_per_trial"]
        if redis_counts[0]["journal"] is not None:
            journal = redis_delta(redis_counts[0]["journal"], redis_counts[1]["journal"], m)
            out["journal"] = journal
            out["statements_per_trial"] = journal["commands_per_trial"]
            entries = journal_entries(self.storage_url)
            if entries is not None:  # each storage object (K + 1 here, N + 1 in a fleet) reads all
                journal["entries_per_trial"] = round(entries / m, 2)
        out["errors_count"] = len(rec["errors"])
        out["errors"] = rec["errors"][:5]
        if args.keep_records:
            (self.folder / "records.json").write_text(json.dumps(rec))
        return out


def wait_for_quiet(limit_s: float, cores: float, own: list[int]) -> float:
    """Wait (up to ``limit_s``) until the machine's load, less this run's own idle worker
    processes (``own``), is under ``cores`` busy cores over 2 s; return the last measurement.
    Other sessions' benchmarks and tests would otherwise take CPU from the fleet."""
    deadline = time.time() + limit_s
    while True:
        t0, before = time.time(), machine_busy_s() - sum(proc_cpu_s(p) or 0.0 for p in own)
        time.sleep(2.0)
        after = machine_busy_s() - sum(proc_cpu_s(p) or 0.0 for p in own)
        busy = round((after - before) / (time.time() - t0), 2)
        if busy <= cores or time.time() >= deadline:
            if busy > cores:
                say(f"  the machine is busy ({busy} cores) without this benchmark; going on")
            return busy
        say(f"  the machine is busy ({busy} cores) without this benchmark; waiting")
        time.sleep(10.0)


def journal_entries(url: str) -> int | None:
    """How many entries Optuna's journal on Redis holds (its ``:log_number`` counter)."""
    import redis

    raw = redis.Redis.from_url(url).get(":log_number")
    return int(raw) + 1 if raw is not None else None


def worker_path(calls: list[list[Any]], deliveries: list[dict[str, Any]]) -> dict[str, Any]:
    """Per trial, automl's worker side: message popped to function start (open, claim), and
    function end to delivery done (facts, tell, release, announcement)."""
    first_call = {}
    for c in calls:
        first_call.setdefault(int(c[1]), c)
    before, after = [], []
    for d in deliveries:
        c = first_call.get(d.get("number"))  # type: ignore[arg-type]
        if c is None or c[3] is None or "done" not in d:
            continue
        before.append(c[2] - d["popped"])
        after.append(d["done"] - c[3])

    def ms(values: list[float], q: float) -> float | None:
        v = percentile(values, q)
        return round(1000 * v, 1) if v is not None else None

    results = Counter(str(d.get("result")).split(":")[0] for d in deliveries)
    return {
        "deliveries": dict(results),
        "p50_popped_to_start_ms": ms(before, 50),
        "p99_popped_to_start_ms": ms(before, 99),
        "p50_end_to_done_ms": ms(after, 50),
        "p99_end_to_done_ms": ms(after, 99),
    }


# -- summary --------------------------------------------------------------------------------

KEYS = (
    "trials_per_s",
    "trials_per_s_whole_run",
    "coordinator_cpu_ms_per_trial",
    "coordinator_cpu_ms_per_trial_whole_run",
    "worker_cpu_ms_per_trial",
    "p50_next_trial_ms",
    "p90_next_trial_ms",
    "p99_next_trial_ms",
    "statements_per_trial",
    "redis_commands_per_trial",
    "machine_cpu_busy",
    "fleet_cpu_busy",
)


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in KEYS:
        values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
        out[key] = round(statistics.median(values), 3) if values else None
    cpu_keys = {k for r in runs for k in r.get("cpu_ms_per_trial", {})}
    out["cpu_ms_per_trial"] = {
        k: round(
            statistics.median(
                r["cpu_ms_per_trial"][k] for r in runs if k in r.get("cpu_ms_per_trial", {})
            ),
            2,
        )
        for k in sorted(cpu_keys)
    }
    out["runs"] = len(runs)
    out["all_budgets_exact"] = all(r["budget_exact"] for r in runs)
    out["stopped_early"] = sum(r["stopped_early"] for r in runs)
    out["trained_twice"] = sorted({n for r in runs for n in r["trained_twice"]})
    out["errors_count"] = sum(r["errors_count"] for r in runs)
    return out


def summary(
    args: argparse.Namespace, runs: list[dict[str, Any]], meta: dict[str, Any]
) -> dict[str, Any]:
    by_side = {s: [r for r in runs if r["side"] == s] for s in ("automl", "optuna")}
    trial_s = args.epochs * args.epoch_s
    out: dict[str, Any] = {
        "workers": args.workers,
        "storage": args.storage,
        "trials": args.trials,
        "trial_s": trial_s,
        "ideal_trials_per_s": round(args.workers / trial_s, 3),
        **meta,
    }
    main_side = "automl" if by_side["automl"] else "optuna"
    out.update({k: v for k, v in medians(by_side[main_side]).items()})
    out["side"] = main_side
    if main_side == "automl" and by_side["optuna"]:
        out["optuna"] = medians(by_side["optuna"])
    return out


def print_table(s: dict[str, Any]) -> None:
    print(
        "\n| side | trials/s | coord. CPU ms/trial | worker CPU ms/trial | statements/trial "
        "| broker cmds/trial | next trial p50 / p99 ms | machine busy (ours) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    sides = [(s["side"], s)] + ([("optuna", s["optuna"])] if "optuna" in s else [])
    for name, v in sides:
        print(
            f"| {name} | {v['trials_per_s']} | {v['coordinator_cpu_ms_per_trial']} "
            f"| {v['worker_cpu_ms_per_trial']} | {v['statements_per_trial']} "
            f"| {v['redis_commands_per_trial']} | {v['p50_next_trial_ms']} / "
            f"{v['p99_next_trial_ms']} | {v['machine_cpu_busy']} ({v['fleet_cpu_busy']}) |"
        )


# -- main -----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--workers", type=int, default=100, help="virtual workers N (default: 100)")
    p.add_argument("--trials", type=int, help="trials per run M (default: max(60, 6N))")
    p.add_argument("--storage", choices=STORAGES, default="postgresql")
    p.add_argument("--side", choices=("automl", "optuna", "both"), default="both")
    p.add_argument("--repeats", type=int, default=1, help="runs per side (default: 1)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--epoch-s", type=float, default=1.0, help="sleep per epoch (default: 1.0)")
    p.add_argument("--threads-per-process", type=int, default=125)
    p.add_argument("--lease-s", type=float, default=30.0, help="the workers' lease (default: 30)")
    p.add_argument("--sample-s", type=float, default=1.0, help="CPU sampling period")
    p.add_argument(
        "--duration-s",
        type=float,
        help="stop each run after this long (Ctrl-C to the coordinator) and measure "
        "what it did; default: run to the budget",
    )
    p.add_argument("--timeout-s", type=float, help="stop a run after this (default: from M, N)")
    p.add_argument(
        "--quiet-wait-s",
        type=float,
        default=0.0,
        help="wait up to this long before each run for other load to drop",
    )
    p.add_argument(
        "--quiet-cores",
        type=float,
        default=0.3,
        help="the load (busy cores) that counts as quiet (default: 0.3)",
    )
    p.add_argument("--storage-url", help="use this storage server, not a private one")
    p.add_argument("--broker-url", help="use this Redis as the broker, not a private one")
    p.add_argument(
        "--profile",
        type=Path,
        help="run the coordinator under cProfile; its stats go to PATH.<run>.prof",
    )
    p.add_argument("--keep-records", action="store_true", help="keep every call in the logs")
    p.add_argument("--logs", type=Path, help="folder for logs (default: a new one under /tmp)")
    p.add_argument("--out", type=Path, default=Path("/tmp/bench_fleet_sim.json"))
    args = p.parse_args()
    args.trials = args.trials or max(60, 6 * args.workers)
    ideal_s = args.trials * args.epochs * args.epoch_s / args.workers
    args.timeout_s = args.timeout_s or max(600.0, 20 * ideal_s)
    if args.storage_url:
        journal = args.storage_url.startswith(("redis://", "rediss://"))
        if journal != (args.storage == "journal-redis"):
            p.error(f"--storage-url does not match --storage {args.storage}")
    return args


def main() -> int:
    args = parse_args()
    logs, work = workspace("automl-fleet-sim", args.logs)
    meta = {
        "commit": git("log", "-1", "--format=%h"),
        "src_status": git("status", "--short", "src"),
        "cpus": os.cpu_count(),
        "logs": str(logs),
    }
    servers = Servers(args, work, logs)
    runs: list[dict[str, Any]] = []
    run: Run | None = None
    try:
        servers.start()
        sides = ["automl", "optuna"] if args.side == "both" else [args.side]
        say(
            f"N={args.workers} M={args.trials} {args.storage}, trials of "
            f"{args.epochs} x {args.epoch_s} s; commit {meta['commit']}; logs in {logs}"
        )
        for rep in range(args.repeats):
            for side in sides if rep % 2 == 0 else sides[::-1]:
                run = Run(side, rep, servers, args, work)
                result = run.execute()
                runs.append(result)
                shutil.copytree(run.folder, logs / run.tag, dirs_exist_ok=True)
                run = None
                say(
                    f"  {side} r{rep}: {result['trials_per_s']} trials/s, coordinator "
                    f"{result['coordinator_cpu_ms_per_trial']} ms/trial, next trial p99 "
                    f"{result['p99_next_trial_ms']} ms, states {result['states']}, "
                    f"errors {result['errors_count']}"
                )
    except Stopped as exc:
        print(f"\nstopped by {exc}; stopping everything this script started", file=sys.stderr)
        return 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleaning short
        if run is not None:
            run.fleet.kill()
            if run.coordinator is not None:
                kill_group(run.coordinator)
        servers.stop()
        shutil.rmtree(work, ignore_errors=True)
    meta["src_status_after"] = git("status", "--short", "src")
    result = summary(args, runs, meta)
    args.out.write_text(json.dumps({**result, "all_runs": runs}, indent=2, default=str) + "\n")
    print_table(result)
    print(f"\nevery run in {args.out}; logs in {logs}")
    print(json.dumps(result, default=str))
    ok = (args.duration_s or result["all_budgets_exact"]) and not result["trained_twice"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
