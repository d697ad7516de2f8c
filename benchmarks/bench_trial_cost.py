"""What one trial costs automl itself, per storage kind: in the worker, and in the coordinator.

    python benchmarks/bench_trial_cost.py --trials 60 --repeats 3

**Worker** (``worker_*`` rows): the real :class:`automl.worker.tasks.TrialWorker` delivers
``--trials`` trials one after another in this process (open, claim, lease thread, train,
reports, outcome, release, announcement), as a Celery worker process does for each message,
minus Celery's own handling of the message. Two trials:

- ``function``: your own function that reports 5 times and does nothing else
  (:mod:`fleet_function` with no sleep), so the whole trial is automl's overhead;
- ``builtin``: the built-in trainer on :mod:`fleet_model` (a linear layer, 40 rows, 2 folds,
  5 epochs, no sleep). ``plain_loop_ms`` is the same training as a hand-written PyTorch loop
  (2 fold models, 5 epochs, Adam, one batch each), so the overhead is the trial less that.

Per trial: the median wall and CPU milliseconds, the SQL statements sent from any thread of
the process (SQLAlchemy's ``before_cursor_execute``; the reports of a study without a pruner go
from the report writer thread), and the Redis commands the worker's clients sent (the broker's
claim, lease and announcement; with a journal on Redis, the journal's reads and appends too).

**Coordinator** (``coordinator`` rows): the real :class:`~automl.coordinator.Coordinator` with
the real :class:`~automl.backends.celery.CeleryBackend` in this process' main thread, and
``--workers`` threads that take the Celery messages off the broker's queue and deliver them
with a ``TrialWorker`` each (the function above, 5 x 10 ms of sleep, so trials overlap). Four
params (two floats, an int, a categorical). Per trial: the coordinator thread's CPU
milliseconds (``time.thread_time``) and its SQL statements, over the whole run.

Services: the machine's PostgreSQL (``AUTOML_TEST_POSTGRES``, default the ``test`` database)
and Redis (``AUTOML_TEST_REDIS``'s server, databases 13 and 14); SQLite and the journal file in a
temporary folder. Study names are unique; nothing else is touched. The last line is JSON.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("FLEET_EPOCH_SLEEP_S", "0")

POSTGRES = os.environ.get("AUTOML_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("AUTOML_TEST_REDIS", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0]
BROKER = f"{REDIS}/13"
KINDS = ("sqlite", "postgresql", "journal-file", "journal-redis")
SPACE = """space:
  lr: {low: 1.0e-3, high: 1.0e-1, log: true}
  wd: {low: 1.0e-6, high: 1.0e-2, log: true}
  width: {low: 8, high: 64}
  opt: {choices: [adam, sgd]}
"""
FUNCTION = 'objective: {metric: score, direction: maximize}\ntrain: "python:fleet_function:fit"\n'
BUILTIN = """objective: {metric: accuracy}
data:
  source: sklearn:make_classification
  options: {n_samples: 40, n_features: 4, random_state: 0}
  cv: {folds: 2, seed: 0}
model: {family: "python:fleet_model:build"}
trainer: {epochs: 5, batch_size: 64, early_stopping: null, device: cpu}
"""


class Counters:
    """SQL statements and Redis commands sent from the threads it watches."""

    def __init__(self) -> None:
        self.sql = 0
        self.redis = 0
        self.threads: set[int] | None = None  # None: every thread

    def watching(self) -> bool:
        return self.threads is None or threading.get_ident() in self.threads


COUNT = Counters()


def install_counters() -> None:
    import redis
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def on_sql(*_: Any) -> None:
        if COUNT.watching():
            COUNT.sql += 1

    event.listen(Engine, "before_cursor_execute", on_sql)
    send = redis.Redis.execute_command
    pipe_send = redis.client.Pipeline.execute

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        if COUNT.watching():
            COUNT.redis += 1
        return send(self, *args, **kwargs)

    def counted_pipe(self: Any, *args: Any, **kwargs: Any) -> Any:
        if COUNT.watching():
            COUNT.redis += len(self.command_stack)
        return pipe_send(self, *args, **kwargs)

    redis.Redis.execute_command = counted  # type: ignore[method-assign]
    redis.client.Pipeline.execute = counted_pipe  # type: ignore[method-assign]


def storage_url(kind: str, folder: Path) -> str:
    return {
        "sqlite": f"sqlite:///{folder / 'cost.db'}", "postgresql": POSTGRES,
        "journal-file": str(folder / "cost.journal"), "journal-redis": f"{REDIS}/14",
    }[kind]  # fmt: skip


def make_study(
    kind: str, folder: Path, body: str, n: int, queue: str = "q", parallelism: int = 1
) -> Any:
    from automl.search.study import open_study
    from automl.studyfile.load import parse_spec

    url = storage_url(kind, folder)
    spec = parse_spec(
        f'name: cost-{uuid.uuid4().hex[:8]}\nstorage: "{url}"\n{body}{SPACE}'
        f"search: {{sampler: {{type: random, seed: 0}}, pruner: {{type: none}}, n_trials: {n}}}\n"
        f'execution: {{backend: celery, broker: "{BROKER}", queue: {queue}, parallelism: '
        f"{parallelism}, "
        "trial_retries: 0}\n"
    )
    return spec, open_study(spec, url)


def worker_cost(kind: str, folder: Path, trainer: str, n: int) -> dict[str, Any]:
    from automl.search.study import SPEC_ATTR, UID_ATTR, ask_params, spec_digest
    from automl.worker.tasks import TrialWorker, WorkerSettings

    spec, study = make_study(kind, folder, FUNCTION if trainer == "function" else BUILTIN, n + 1)
    numbers = [ask_params(study, spec.space, waiting=False)[0] for _ in range(n + 1)]
    uid, digest = study.user_attrs[UID_ATTR], spec_digest(study.user_attrs[SPEC_ATTR])
    worker = TrialWorker(WorkerSettings(spec.storage, BROKER, "cpu:0", 30.0, 3))
    worker.deliver(spec.name, numbers[0], uid, digest)  # the first: imports and per-process caches
    # every thread: without a pruner the reports are written by the process' report writer
    # thread (automl.runner.reporter); the lease thread renews only every 10 s
    COUNT.threads, COUNT.sql, COUNT.redis = None, 0, 0
    walls, cpus = [], []
    for number in numbers[1:]:
        t, c = time.perf_counter(), time.process_time()
        outcome = worker.deliver(spec.name, number, uid, digest)
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
        if outcome != "COMPLETE":
            raise RuntimeError(f"trial {number} of {spec.name}: {outcome}")
    return {
        "wall_ms": round(1000 * statistics.median(walls), 2),
        "cpu_ms": round(1000 * statistics.median(cpus), 2),
        "statements": round(COUNT.sql / n, 1), "redis_commands": round(COUNT.redis / n, 1),
    }  # fmt: skip


def plain_loop_ms(repeats: int = 30) -> float:
    """The built-in trial's training as a hand-written loop: 2 fold models, 5 epochs."""
    import torch
    from fleet_model import build

    x, y = torch.randn(20, 4), torch.randint(0, 2, (20,))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _fold in range(2):
            model = build({}, (4,), 2)
            opt = torch.optim.Adam(model.parameters(), lr=0.01)
            for _epoch in range(5):
                model.train()
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                opt.step()
                model.eval()
                with torch.no_grad():
                    model(x).argmax(1)
        times.append(time.perf_counter() - t)
    return round(1000 * statistics.median(times), 2)


def coordinator_cost(kind: str, folder: Path, n: int, workers: int) -> dict[str, Any]:
    import redis

    from automl.backends.celery import CeleryBackend
    from automl.coordinator.loop import Coordinator
    from automl.worker.message import TrialJob
    from automl.worker.tasks import TrialWorker, WorkerSettings

    queue = f"cost-{uuid.uuid4().hex[:8]}"
    spec, study = make_study(kind, folder, FUNCTION, n, queue, workers)
    client, stop = redis.Redis.from_url(BROKER), threading.Event()

    def serve() -> None:
        worker = TrialWorker(WorkerSettings(spec.storage, BROKER, "cpu:0", 30.0, 3))
        while not stop.is_set():
            message = client.blpop([queue], timeout=0.2)
            if message:
                job = TrialJob.from_wire(
                    json.loads(base64.b64decode(json.loads(message[1])["body"]))[0]
                )
                assert job is not None
                worker.deliver(job.study_name, job.trial_number, job.study_uid, job.spec_digest)

    os.environ["FLEET_EPOCH_SLEEP_S"] = "0.01"
    threads = [threading.Thread(target=serve, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    COUNT.threads, COUNT.sql, COUNT.redis = {threading.get_ident()}, 0, 0
    t, c = time.perf_counter(), time.thread_time()
    try:
        state = Coordinator(spec, study, CeleryBackend(spec.storage, BROKER, queue, workers)).run()
    finally:
        stop.set()
        os.environ["FLEET_EPOCH_SLEEP_S"] = "0"
    cpu, wall = time.thread_time() - c, time.perf_counter() - t
    return {
        "cpu_ms": round(1000 * cpu / n, 2), "statements": round(COUNT.sql / n, 1),
        "trials_per_s": round(n / wall, 1), "done": state.done,
    }  # fmt: skip


def measure(kinds: list[str], trials: int, workers: int) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            folder = Path(tmp) / kind
            folder.mkdir()
            rows[f"worker_function {kind}"] = worker_cost(kind, folder, "function", trials)
            rows[f"worker_builtin {kind}"] = worker_cost(kind, folder, "builtin", trials)
            rows[f"coordinator {kind}"] = coordinator_cost(kind, folder, 4 * trials, workers)
    return rows


def medians(runs: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row in runs[0]:
        out[row] = {k: statistics.median(r[row][k] for r in runs) for k in runs[0][row]}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--storages", nargs="+", choices=KINDS, default=list(KINDS))
    p.add_argument("--trials", type=int, default=60, help="worker trials per row (coordinator: 4x)")
    p.add_argument("--workers", type=int, default=8, help="worker threads for the coordinator rows")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    import torch

    from automl.search.storage import quiet_optuna

    torch.set_num_threads(1)  # as a worker process with one slot per core
    quiet_optuna()
    install_counters()
    runs: list[dict[str, dict[str, Any]]] = []
    for repeat in range(args.repeats):
        runs.append(measure(args.storages, args.trials, args.workers))
        print(f"repeat {repeat}: {json.dumps(runs[-1])}", flush=True)
    result = medians(runs)
    loop = plain_loop_ms()
    print(
        f"\nmedians of {args.repeats} runs; the built-in trial's training as a plain "
        f"loop: {loop} ms\n"
    )
    print("| row | wall ms | CPU ms | SQL statements | Redis commands | trials/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for row, v in result.items():
        print(f"| {row} | {v.get('wall_ms', '')} | {v['cpu_ms']} | {v['statements']} "
              f"| {v.get('redis_commands', '')} | {v.get('trials_per_s', '')} |")  # fmt: skip
    print(json.dumps({"plain_loop_ms": loop, "rows": result, "runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
