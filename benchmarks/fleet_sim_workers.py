"""One process of virtual workers for ``benchmarks/bench_fleet_sim.py``: T threads, each one
virtual worker, of automl (``automl`` mode) or of Optuna's own pattern (``optuna`` mode).

    python benchmarks/fleet_sim_workers.py '{"mode": "automl", ...}'   # started by the benchmark

**automl mode.** Each thread is one ``automl worker`` slot: it pops a Celery message from the
queue's Redis list as kombu's Redis transport does (``BRPOP`` on the queue and its priority
lists, timeout 1 s; then the message is recorded as unacknowledged, ``ZADD unacked_index`` +
``HSET unacked`` in one ``MULTI``), refuses anything but JSON messages of the trial task,
decodes the body (base64 JSON ``[args, kwargs, embed]``), and calls the real
:meth:`automl.worker.tasks.TrialWorker.deliver` with the message's arguments: open the trial
from the storage, claim it (``SET NX`` + lease), renew the lease from a thread, run
``train: python:sim_model:fit`` through the runner (a report per epoch, the facts, the tell),
release the lease and announce the end on the broker. Then it acknowledges the message
(``ZREM`` + ``HDEL`` in one ``MULTI``). Every thread has its own :class:`TrialWorker` (its own
broker connections and slot name, ``sim<process>:<thread>``), as every worker process has.

**optuna mode.** Each thread loads the shared study (its own ``Study`` object, a
``RandomSampler`` seeded per thread, ``NopPruner``), waits for the common release time, then
runs ``study.optimize(sim_model.objective, n_trials=K)``.

The threads of one process share one storage object per URL and retry window (automl's
per-process cache, :func:`automl.search.make_storage`; the same for the Optuna threads). Its
SQLAlchemy pool is resized to one connection per thread (``pool_size=T``, no overflow, a long
checkout timeout): the default 5 + 10 with a 30 s timeout would make 125 threads time out, and
``make_storage`` has no way to size it. That is the only change to automl's storage; everything else
is automl's code as ``automl worker`` runs it.

The process writes ``ready-<index>`` into the work folder once every thread is ready, stops
when ``stop`` appears there (automl mode) or when its threads are done (optuna mode), and
writes what it recorded as JSON to ``out``: every call of the trial function
(:data:`sim_model.CALLS`), every delivery (automl: slot, trial number, popped, done, result),
and every error.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import resource
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sim_model  # noqa: E402

from automl.worker.message import TrialJob  # noqa: E402

BRPOP_TIMEOUT_S = 1  # kombu's Redis transport: brpop_timeout
PRIORITY_SEP = "\x06\x16"  # kombu: a queue's list per priority step is "<queue>\x06\x16<step>"
PRIORITY_STEPS = (3, 6, 9)
UNACKED, UNACKED_INDEX = "unacked", "unacked_index"  # kombu's keys for delivered messages

ERRORS: list[str] = []
DELIVERIES: list[dict[str, Any]] = []


def raise_open_files_limit() -> None:
    """Threads x (broker connections + a database connection): more than 1,024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def size_pool(storage: Any, threads: int) -> None:
    """Give an RDB storage one pooled connection per thread; everything else as it was."""
    import sqlalchemy
    from sqlalchemy import orm

    from automl.search.batch import rdb_of

    rdb = rdb_of(storage)
    if rdb is None:
        return  # the journal on Redis: redis-py's pool grows as needed
    kwargs = dict(rdb.engine_kwargs, pool_size=threads + 1, max_overflow=0, pool_timeout=3600)
    rdb.engine.dispose()
    rdb.engine = sqlalchemy.create_engine(rdb.url, **kwargs)
    rdb.scoped_session = orm.scoped_session(orm.sessionmaker(bind=rdb.engine))
    rdb.engine_kwargs = kwargs


# -- automl ---------------------------------------------------------------------------------


class VirtualWorker(threading.Thread):
    """One ``automl worker`` slot: consume the queue and deliver each trial, until ``stop``."""

    def __init__(self, slot: str, config: dict[str, Any], stop: threading.Event) -> None:
        import redis

        from automl.worker.tasks import TrialWorker, WorkerSettings

        super().__init__(name=slot, daemon=True)
        settings = WorkerSettings(
            storage_url=config["storage"],
            broker_url=config["broker"],
            slot=slot,
            lease_s=config["lease_s"],
            max_infra_failures=3,
        )
        self.worker = TrialWorker(settings)
        # kombu's own connection for BRPOP, beside the worker's lease connection
        self.consumer = redis.Redis.from_url(config["broker"], socket_timeout=BRPOP_TIMEOUT_S + 30)
        queue = config["queue"]
        self.keys = [queue] + [f"{queue}{PRIORITY_SEP}{step}" for step in PRIORITY_STEPS]
        self.stop = stop

    def run(self) -> None:
        sim_model.SLOT.name = self.name
        while not self.stop.is_set():
            try:
                popped = self.consumer.brpop(self.keys, timeout=BRPOP_TIMEOUT_S)
                if popped is not None:
                    self.take(popped[0], popped[1])
            except Exception as exc:  # noqa: BLE001 - record it; a thread that dies is a finding
                ERRORS.append(f"{self.name}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
                if not isinstance(exc, (OSError, ConnectionError)):
                    time.sleep(1.0)

    def take(self, key: bytes, payload: bytes) -> None:
        from celery.exceptions import Reject, WorkerShutdown

        from automl.worker.celery_app import TASK_NAME

        popped = time.time()
        raw = json.loads(payload)
        props = raw.get("properties", {})
        tag = props.get("delivery_tag", "")
        info = props.get("delivery_info", {})
        with self.consumer.pipeline() as pipe:  # kombu's QoS.append
            pipe.zadd(UNACKED_INDEX, {tag: time.time()})
            pipe.hset(
                UNACKED, tag, json.dumps([raw, info.get("exchange"), info.get("routing_key")])
            )
            pipe.execute()
        record: dict[str, Any] = {"slot": self.name, "number": None, "popped": popped}
        DELIVERIES.append(record)
        if (
            raw.get("content-type") != "application/json"
            or raw.get("headers", {}).get("task") != TASK_NAME
        ):
            record["result"] = "refused: not a JSON message of the trial task"
            self.ack(tag)
            return
        body = raw["body"]
        if props.get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args, _kwargs, _embed = json.loads(body)
        job = TrialJob.from_wire(args)
        record["number"] = job.trial_number if job else None
        try:
            if job is None:
                record["result"] = f"ignored: not a trial message: {args!r:.200}"
            else:
                record["result"] = self.worker.deliver(
                    job.study_name, job.trial_number, job.study_uid, job.spec_digest
                )
        except Reject:  # kombu puts a rejected message back at the tail of the queue
            record["result"] = "requeued"
            self.consumer.lpush(key, payload)
        except WorkerShutdown:  # this slot stops taking work, as its process would
            record["result"] = "worker shutdown"
            self.consumer.lpush(key, payload)
            self.stop.set()
        finally:
            record["done"] = time.time()
        self.ack(tag)

    def ack(self, tag: str) -> None:
        with self.consumer.pipeline() as pipe:  # kombu's QoS.ack
            pipe.zrem(UNACKED_INDEX, tag)
            pipe.hdel(UNACKED, tag)
            pipe.execute()


def run_automl(config: dict[str, Any], work: Path, stop: threading.Event) -> None:
    import automl.training  # noqa: F401 - as automl worker does: "ready" means ready to train
    from automl.search import make_storage
    from automl.search.storage import quiet_optuna
    from automl.worker import celery_app

    quiet_optuna()
    threads = config["threads"]
    workers = [VirtualWorker(f"sim{config['index']}:{i}", config, stop) for i in range(threads)]
    # The storage the workers share: one per URL and retry window (a worker's, far longer than a
    # command's).
    size_pool(
        make_storage(config["storage"], retry_s=workers[0].worker.settings.storage_retry_s), threads
    )
    celery_app.configure(workers[0].worker.settings)  # as a worker process is
    for w in workers:
        w.start()
    (work / f"ready-{config['index']}").touch()
    while not stop.wait(0.2):
        if (work / "stop").exists():
            stop.set()
    for w in workers:
        w.join(timeout=60)


# -- Optuna's pattern -------------------------------------------------------------------------


def optuna_storage(url: str, threads: int) -> Any:
    """The storage as plain Optuna opens it, with the same pool per thread as automl's side."""
    import optuna

    if url.startswith("redis"):
        from optuna.storages.journal import JournalRedisBackend

        return optuna.storages.JournalStorage(JournalRedisBackend(url))
    url = re.sub(r"^(postgresql|postgres)://", "postgresql+psycopg://", url)
    kwargs = {"pool_size": threads + 1, "max_overflow": 0, "pool_timeout": 3600}
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def run_optuna(config: dict[str, Any], work: Path, stop: threading.Event) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna_storage(config["storage"], config["threads"])
    loaded: list[Any] = []

    def one(i: int, n_trials: int) -> None:
        name = f"sim{config['index']}:{i}"
        sim_model.SLOT.name = name
        try:
            study = optuna.load_study(
                study_name=config["study"],
                storage=storage,
                pruner=optuna.pruners.NopPruner(),
                sampler=optuna.samplers.RandomSampler(seed=config["index"] * 100_000 + i),
            )
            loaded.append(name)
            go = work / "go"
            while not go.exists() and not stop.is_set():
                time.sleep(0.02)
            if stop.is_set():
                return
            time.sleep(max(0.0, float(go.read_text()) - time.time()))
            study.optimize(sim_model.objective, n_trials=n_trials)
        except Exception as exc:  # noqa: BLE001 - recorded for the benchmark
            ERRORS.append(f"{name}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")

    threads = [
        threading.Thread(target=one, args=(i, n), daemon=True)
        for i, n in enumerate(config["n_trials"])
    ]
    for t in threads:
        t.start()
    while len(loaded) + len(ERRORS) < len(threads) and not stop.is_set():
        time.sleep(0.05)
    (work / f"ready-{config['index']}").touch()
    for t in threads:
        while t.is_alive() and not stop.is_set():
            t.join(timeout=0.5)
            if (work / "stop").exists():
                stop.set()


def main() -> int:
    config = json.loads(sys.argv[1])
    work = Path(config["work"])
    raise_open_files_limit()
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(threadName)s %(name)s: %(message)s"
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        (run_automl if config["mode"] == "automl" else run_optuna)(config, work, stop)
    except Exception as exc:  # noqa: BLE001 - recorded for the benchmark
        ERRORS.append(
            f"process {config['index']}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        )
    out = {"pid": os.getpid(), "calls": sim_model.CALLS, "deliveries": DELIVERIES, "errors": ERRORS}
    tmp = Path(config["out"] + ".tmp")
    tmp.write_text(json.dumps(out))
    tmp.rename(config["out"])
    sys.stdout.flush()
    os._exit(0)  # daemon threads may still sit in a blocking call: do not wait for them


if __name__ == "__main__":
    main()
