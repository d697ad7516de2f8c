"""`automl worker`: Celery worker processes that train trials from a queue.

One process per GPU slot (``CUDA_VISIBLE_DEVICES`` set per process) or ``--concurrency`` CPU
processes; see :mod:`automl.worker.pool`. Storage and broker come from the flags or from
``AUTOML_STORAGE`` / ``AUTOML_BROKER``, never from the messages; they reach the child processes
through the environment, so that passwords do not show in ``ps``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from rich.console import Console

from automl.cli.common import BROKER_ENV, STORAGE_ENV
from automl.errors import AutoMLError, UsageError
from automl.masking import mask_text, mask_url
from automl.search.storage import make_storage, storage_kind
from automl.settings import LEASE_ENV, Settings
from automl.worker.celery_app import DEFAULT_QUEUE, check_broker_url

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", metavar="URL", help=f"the Redis broker (default: ${BROKER_ENV})")
    p.add_argument(
        "--storage",
        metavar="URL",
        help=f"the Optuna storage of the studies (default: ${STORAGE_ENV})",
    )
    p.add_argument(
        "--queues",
        metavar="Q",
        default=DEFAULT_QUEUE,
        help="comma-separated queues to take trials from (default: automl)",
    )
    p.add_argument(
        "--gpus",
        default="all",
        metavar="all|0,1|none",
        help="GPUs to use, one process per GPU slot (default: all; none found: CPU processes)",
    )
    p.add_argument(
        "--trials-per-gpu",
        type=int,
        default=1,
        metavar="K",
        help="trials at once on each GPU (default: 1)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=1,
        metavar="N",
        help="CPU processes when no GPU is used (default: 1)",
    )
    p.add_argument(
        "--lease-s",
        type=float,
        metavar="S",
        help=f"a trial whose worker is silent this long is lost (default: ${LEASE_ENV} or "
        f"{Settings.lease_s:g})",
    )
    p.add_argument(
        "--grace-s",
        type=float,
        default=30.0,
        metavar="S",
        help="on SIGTERM or Ctrl-C, running trials checkpoint and stop as preempted; "
        "processes still busy after S seconds are killed (default: 30)",
    )
    p.add_argument(
        "--max-infra-failures",
        type=int,
        default=3,
        metavar="K",
        help="stop a process after K infrastructure failures in a row (default: 3)",
    )
    # What the supervisor passes to each child process it starts; not for people.
    p.add_argument("--slot", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    from_env = not args.broker and os.environ.get(BROKER_ENV)  # name what the user set
    broker = check_broker_url(
        args.broker or os.environ.get(BROKER_ENV), field=BROKER_ENV if from_env else "--broker"
    )
    storage = args.storage or os.environ.get(STORAGE_ENV)
    if not storage:
        raise UsageError(
            f"--storage: give the Optuna storage of the studies (or set {STORAGE_ENV})"
        )
    storage_kind(storage)
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    if not queues:
        raise UsageError("--queues: name at least one queue")
    if args.lease_s is None:
        args.lease_s = args.settings.lease_s
    if args.lease_s <= 0:
        raise UsageError(f"--lease-s must be > 0, but got {args.lease_s:g}.")
    if args.grace_s < 0:
        raise UsageError(f"--grace-s must be >= 0, but got {args.grace_s:g}.")
    if args.max_infra_failures < 1:
        raise UsageError(f"--max-infra-failures must be >= 1, but got {args.max_infra_failures}.")
    if args.slot:
        return _run_child(args, broker, storage, queues)
    return _supervise(args, broker, storage, queues)


def _supervise(args: argparse.Namespace, broker: str, storage: str, queues: list[str]) -> int:
    from automl.processes import threads_per_process
    from automl.worker.lease import LeaseStore
    from automl.worker.pool import Slot, Supervisor, plan_slots

    slots = plan_slots(
        args.gpus,
        args.trials_per_gpu,
        args.concurrency,
        visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
    )
    # fail now, once, rather than in every child
    make_storage(storage, retry_s=args.settings.worker_storage_retry_s)
    try:
        LeaseStore.from_url(broker).ping()
    except Exception as exc:  # noqa: BLE001 - redis raises many kinds; all mean "cannot reach"
        raise AutoMLError(
            f"cannot reach the broker {mask_url(broker)}: {mask_text(str(exc), broker)}"
        ) from None
    threads = threads_per_process(len(slots))
    log.info(
        "automl worker: %d process(es) on queues %s: %s; storage %s, broker %s",
        len(slots),
        ",".join(queues),
        ", ".join(s.name for s in slots),
        mask_url(storage),
        mask_url(broker),
    )

    def command(slot: Slot) -> list[str]:
        return [
            sys.executable,
            "-m",
            "automl",
            "worker",
            "--slot",
            slot.name,
            "--threads",
            str(threads),
            "--queues",
            ",".join(queues),
            "--lease-s",
            str(args.lease_s),
            "--max-infra-failures",
            str(args.max_infra_failures),
        ]

    env = dict(os.environ) | {STORAGE_ENV: storage, BROKER_ENV: broker}
    return Supervisor(slots, command, env, grace_s=args.grace_s).run()


def _run_child(args: argparse.Namespace, broker: str, storage: str, queues: list[str]) -> int:
    from automl.processes import threads_per_process
    from automl.worker.process import run_worker_process
    from automl.worker.tasks import WorkerSettings

    settings = WorkerSettings(
        storage_url=storage,
        broker_url=broker,
        slot=args.slot,
        lease_s=args.lease_s,
        max_infra_failures=args.max_infra_failures,
        storage_retry_s=args.settings.worker_storage_retry_s,
    )
    return run_worker_process(settings, queues, args.threads or threads_per_process(1))
