"""One worker process: a Celery worker with the solo pool, running one trial at a time.

:mod:`automl.worker.pool` starts one of these per slot with ``CUDA_VISIBLE_DEVICES`` already
set in its environment, so CUDA is first touched here, after the pinning.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence

from celery.signals import worker_ready, worker_shutting_down

from automl.search.storage import quiet_optuna
from automl.worker import tasks
from automl.worker.celery_app import configure, create_app

log = logging.getLogger(__name__)


def run_worker_process(settings: tasks.WorkerSettings, queues: Sequence[str], threads: int) -> int:
    """Consume ``queues`` until told to stop; return the process' exit code."""
    import torch

    import automl.training  # load the engine now, so "ready" means ready to train

    quiet_optuna()
    torch.set_num_threads(threads)
    configure(settings)
    app = create_app(settings.broker_url, queues)
    name = settings.slot.replace(":", "").replace("/", "-")

    @worker_ready.connect(weak=False)
    def _ready(**_: object) -> None:
        log.info("automl worker %s ready on queues %s", settings.slot, ",".join(queues))

    @worker_shutting_down.connect(weak=False)
    def _preempt(**_: object) -> None:
        # SIGTERM (a spot machine going away, Kubernetes, the supervisor): Celery finishes the
        # running task; the trial checkpoints after its current epoch and ends as preempted.
        automl.training.request_preemption()

    argv = [
        "worker",
        "--pool=solo",  # the trial trains in this process' main thread; see automl.worker.pool
        "--concurrency=1",
        f"--queues={','.join(queues)}",
        f"--hostname=automl-{name}@{socket.gethostname()}",
        "--loglevel=INFO",
        # No gossip, mingle or events: workers need not know each other, and a fleet of them
        # would otherwise chatter on the broker for nothing.
        "--without-gossip",
        "--without-mingle",
    ]
    code = app.start(argv)
    return int(code or 0)
