"""The one Celery app factory: the coordinator sends with it, workers consume with it; and the
one task it knows, ``automl.run_trial``, whose deliveries a worker process hands to its
:class:`~automl.worker.tasks.TrialWorker` (:func:`configure` makes it).

Settings, and why:

* **JSON only** (``task_serializer="json"``, ``accept_content=["json"]``): a worker never
  unpickles a message, so whoever can write to the broker cannot run code on the workers. A
  message in any other format is refused and dropped by the worker unrun.
* **acks_late + reject_on_worker_lost**: a message is acknowledged only after its trial ended,
  so a worker that dies mid-trial does not silently swallow it. Redelivery cannot train a trial
  twice: the worker claims the trial first (:mod:`automl.worker.lease`).
* **prefetch multiplier 1**: trials are long; a worker process reserves only the one it runs,
  so a free worker never waits behind a busy one.
* **long visibility timeout**: Redis hands an unacknowledged message to another worker once
  the timeout passes. A trial may train longer than Redis' default hour; the claim stops a
  second run anyway, but there is no reason to shuffle messages of live trials around.
* **explicit queues** (``task_create_missing_queues`` off): a worker consumes exactly the
  queues it was told, and the coordinator names the queue of every message it sends.
* **no result backend**: results go to the Optuna storage; the coordinator reads them there.

>>> app = create_app("redis://localhost:6379/0", queues=["automl"])
>>> app.conf.accept_content
['json']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import Celery, Task
from kombu import Queue

from automl.errors import UsageError
from automl.masking import mask_url, percent_encode_hint, unencoded_separator
from automl.worker.message import WIRE_VERSION, TrialJob
from automl.worker.tasks import TrialWorker, WorkerSettings

__all__ = ["DEFAULT_QUEUE", "TASK_NAME", "VISIBILITY_TIMEOUT_S", "check_broker_url", "create_app"]
DEFAULT_QUEUE = "automl"
VISIBILITY_TIMEOUT_S = 7 * 24 * 3600
TASK_NAME = "automl.run_trial"  # the name on the wire; coordinators send it, workers register it


def create_app(broker_url: str, queues: Sequence[str] = (DEFAULT_QUEUE,)) -> Celery:
    """A Celery app on ``broker_url`` (Redis) that knows ``queues`` and the trial task."""
    check_broker_url(broker_url)
    app = Celery("automl", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        event_serializer="json",
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_queues=[Queue(name) for name in queues],
        task_default_queue=queues[0] if queues else DEFAULT_QUEUE,
        task_create_missing_queues=False,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=True,
        worker_redirect_stdouts=False,
        # A lost broker connection must not leave a trial running unacknowledged while the
        # message is handed to someone else; the claim makes it harmless, this makes it rare.
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    register(app)  # the trial task; it imports torch only when a trial runs
    return app


def check_broker_url(broker_url: str | None, field: str = "execution.broker") -> str:
    """The broker URL, or a UsageError naming ``field``: leases live on the broker's Redis."""
    if not broker_url:
        raise UsageError(
            f"{field}: the celery backend needs a broker; set {field}, pass --broker, "
            "or set AUTOML_BROKER (e.g. redis://localhost:6379/0)"
        )
    if not broker_url.startswith(("redis://", "rediss://")):
        raise UsageError(
            f"{field}: {mask_url(broker_url)!r} is not a Redis URL; "
            "automl's Celery broker is Redis (redis://...)"
        )
    if held := unencoded_separator(broker_url):
        raise UsageError(f"{field}: {mask_url(broker_url)!r}: {percent_encode_hint(held)}")
    return broker_url


_worker: TrialWorker | None = None


def configure(settings: WorkerSettings) -> None:
    """Called once by the worker process before it consumes."""
    global _worker
    _worker = TrialWorker(settings)


def register(app: Celery) -> None:
    app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)(deliver_trial)


def deliver_trial(task: Task, *args: Any) -> str:
    """Train one trial once; return what happened (for the worker's log). ``args`` is the
    message in any shape :meth:`TrialJob.from_wire` reads."""
    if _worker is None:
        raise RuntimeError(
            "automl.worker.celery_app.configure() was not called in this worker process"
        )
    job = TrialJob.from_wire(list(args))
    if job is None:
        return f"ignored: not a trial message automl {WIRE_VERSION} reads: {args!r:.200}"
    return _worker.deliver(job.study_name, job.trial_number, job.study_uid, job.spec_digest)
