"""MLflow: one run per trial, nested under one parent run per study.

Uses :class:`mlflow.MlflowClient` only (no fluent ``mlflow.start_run``), so a long-lived worker
keeps no active-run state between trials. A trial's run holds its params, the per-epoch series
(``cv/score``, ``cv/fold_<k>``, ``train/loss``, ``health/<stat>/<group>``) with the epoch as
step, the final ``value`` (several objectives: ``cv/<name>`` per epoch and ``value/<name>``;
the parent run then holds the Pareto front: ``front_size``, tags ``automl.front_trials`` and
``front.<trial>``), its status (FINISHED complete, KILLED pruned, FAILED failed) and the
``automl.*`` tags that lead back to the trial in the Optuna storage.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from optuna.trial import TrialState

from automl.studyfile.sections import MlflowSpec
from automl.tracking.base import (
    TAG_ROLE,
    TAG_STORAGE,
    TAG_STUDY,
    TAG_TRIAL,
    StudyRecord,
    Tracker,
    TrialRecord,
)

_STATUS = {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "KILLED", TrialState.FAIL: "FAILED"}
_MAX_METRICS, _MAX_PARAMS = 1000, 100  # MLflow's log_batch limits


class MlflowTracker(Tracker):
    """Log trials to the MLflow tracking store at ``spec.tracking_uri``.

    >>> from automl.studyfile.sections import MlflowSpec
    >>> tracker = MlflowTracker(MlflowSpec(tracking_uri="sqlite:////tmp/mlflow.db"), "my-study")
    >>> tracker.experiment
    'my-study'
    """

    name = "mlflow"

    def __init__(self, spec: MlflowSpec, study_name: str) -> None:
        self.tracking_uri = spec.tracking_uri
        self.experiment = spec.experiment or study_name
        scheme = self.tracking_uri.split(":", 1)[0].lower() if ":" in self.tracking_uri else ""
        # Workers may have no way out (and should not call home): no usage telemetry unless the
        # user turned it on.
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        if scheme in ("", "file"):
            # MLflow 3 refuses its file store unless asked; the study file asked for it.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        elif scheme in ("http", "https"):
            # An unreachable server must cost a worker seconds, not MLflow's minutes of retries.
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")

    def log_trial(self, record: TrialRecord) -> None:
        from mlflow.entities import Metric, Param

        client, experiment_id = self._open()
        if self._find(client, experiment_id, record.study_name, record.storage, record.number):
            return  # already logged: a repeated call adds no second run
        parent = self._parent(client, experiment_id, record.study_name, record.storage)
        tags = record.tags() | {"mlflow.parentRunId": parent, "automl.metric": record.metric}
        if record.multi:
            tags["automl.objectives"] = ",".join(record.objectives)
        start_ms = _ms(record.started_at)
        run = client.create_run(
            experiment_id, start_time=start_ms, tags=tags, run_name=record.run_name
        )
        run_id = run.info.run_id
        params = [Param(k, str(v)) for k, v in sorted(record.params.items())]
        for i in range(0, len(params), _MAX_PARAMS):
            client.log_batch(run_id, params=params[i : i + _MAX_PARAMS])
        now = _ms(record.ended_at)
        metrics = [
            Metric(key, float(v), now, step)
            for key, steps in record.step_series().items()
            for step, v in steps.items()
        ]
        for key, value in record.summary().items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                metrics.append(Metric(key, float(value), now, 0))
        for i in range(0, len(metrics), _MAX_METRICS):
            client.log_batch(run_id, metrics=metrics[i : i + _MAX_METRICS])
        client.set_terminated(run_id, _STATUS.get(record.state, "FAILED"), end_time=now)

    def log_study(self, record: StudyRecord) -> None:
        from mlflow.entities import Metric, RunTag

        client, experiment_id = self._open()
        parent = self._parent(client, experiment_id, record.study_name, record.storage)
        now = _ms(None)
        step = sum(record.counts.values())
        metrics = [
            Metric(f"n_{state.lower()}", float(n), now, step) for state, n in record.counts.items()
        ]
        tags = [
            RunTag("automl.metric", record.metric),
            RunTag("automl.direction", record.direction),
        ]
        if record.best is not None and record.best.value is not None:
            metrics.append(Metric("best_value", float(record.best.value), now, step))
            tags.append(RunTag("automl.best_trial", str(record.best.number)))
            # Tags, not params: MLflow params are write-once, and a resumed study may find a new
            # best.
            tags += [RunTag(f"best.{k}", str(v)) for k, v in sorted(record.best.params.items())]
        if record.multi:  # several objectives: the Pareto front instead of a best trial
            metrics.append(Metric("front_size", float(len(record.front)), now, step))
            tags += [
                RunTag("automl.objectives", ",".join(record.objectives)),
                RunTag("automl.directions", ",".join(record.directions)),
                RunTag("automl.front_trials", ",".join(map(str, record.front_numbers()))),
            ]
            for t in record.front:  # front.<trial>: "accuracy=0.95, params=1200; lr=0.01, width=32"
                values = ", ".join(f"{k}={v:.6g}" for k, v in t.values.items() if v is not None)
                params = ", ".join(f"{k}={v}" for k, v in sorted(t.params.items()))
                tags.append(RunTag(f"front.{t.number}", f"{values}; {params}"[:5000]))
        client.log_batch(parent, metrics=metrics, tags=tags[:_MAX_PARAMS])
        client.set_terminated(parent, "FINISHED", end_time=now)

    def _open(self) -> tuple[Any, str]:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        with _first_use_lock(self.tracking_uri):
            client = MlflowClient(tracking_uri=self.tracking_uri)
            experiment = client.get_experiment_by_name(self.experiment)
            if experiment is not None:
                return client, experiment.experiment_id
            try:
                return client, client.create_experiment(self.experiment)
            except MlflowException:  # another worker created it first
                experiment = client.get_experiment_by_name(self.experiment)
                if experiment is None:
                    raise
                return client, experiment.experiment_id

    def _parent(self, client: Any, experiment_id: str, study: str, storage: str) -> str:
        """The study's parent run: found by its tags, created by whoever needs it first."""
        runs = self._search(client, experiment_id, study, storage, role="study")
        if runs:
            return str(runs[0].info.run_id)
        tags = {TAG_STUDY: study, TAG_STORAGE: storage, TAG_ROLE: "study"}
        mine = client.create_run(experiment_id, tags=tags, run_name=study).info.run_id
        # Two workers may create one at the same time: the oldest wins, the others step aside.
        runs = self._search(client, experiment_id, study, storage, role="study")
        winner = str(runs[0].info.run_id) if runs else mine
        if winner != mine:
            client.delete_run(mine)
        return winner

    def _find(self, client: Any, experiment_id: str, study: str, storage: str, number: int) -> bool:
        return bool(
            self._search(client, experiment_id, study, storage, role="trial", number=number)
        )

    @staticmethod
    def _search(client: Any, experiment_id: str, study: str, storage: str, *, role: str,
                number: int | None = None) -> list[Any]:  # fmt: skip
        terms = [
            f"tags.`{TAG_STUDY}` = {_quote(study)}",
            f"tags.`{TAG_STORAGE}` = {_quote(storage)}",
            f"tags.`{TAG_ROLE}` = {_quote(role)}",
        ]
        if number is not None:
            terms.append(f"tags.`{TAG_TRIAL}` = {_quote(str(number))}")
        runs = client.search_runs(
            [experiment_id], filter_string=" and ".join(terms), max_results=10,
            order_by=["attributes.start_time ASC", "attributes.run_id ASC"],
        )  # fmt: skip
        return list(runs)


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ms(seconds: float | None) -> int:
    return int((seconds if seconds is not None else time.time()) * 1000)


@contextlib.contextmanager
def _first_use_lock(uri: str) -> Iterator[None]:
    """Serialise opening a SQLite store across the processes of one machine: MLflow creates
    its tables on first use, and two processes doing that at once collide."""
    path = uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else None
    try:
        import fcntl
    except ImportError:  # Windows: no lock, and no local worker pool racing either
        path = None
    if not path or not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        yield
        return
    # The lock file lives in the temp folder, not beside the user's database.
    digest = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:16]
    with open(os.path.join(tempfile.gettempdir(), f"automl-mlflow-{digest}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
