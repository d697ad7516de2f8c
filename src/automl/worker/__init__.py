"""``automl worker``: the Celery app, its one task, claims and leases on the broker, and the
supervisor that runs one Celery worker process per slot. Trials themselves run through
:mod:`automl.runner`."""
