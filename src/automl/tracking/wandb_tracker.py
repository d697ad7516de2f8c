"""Weights & Biases: one run per trial in a ``group`` named after the study, plus a summary run.

Offline mode (the default) writes run folders under ``<dir>/wandb/`` and needs no network and
no account; ``wandb sync`` uploads them later. A trial's run has the trial's params as config,
one history row per epoch (``cv/score``, ``cv/fold_<k>``, ``train/loss``,
``health/<stat>/<group>``, step = epoch), and a summary with the state, value, prune epoch or
failure reason, host and slot. With several objectives, each one's ``cv/<name>`` per epoch and
``value/<name>``; the summary run holds the Pareto front (``front_trials``, ``front``). A failed
trial's run exits with code 1, so W&B marks it failed.
"""

from __future__ import annotations

from typing import Any

from optuna.trial import TrialState

from automl.studyfile.sections import WandbSpec
from automl.tracking.base import (
    TAG_STORAGE,
    TAG_STUDY,
    TAG_TRIAL,
    StudyRecord,
    Tracker,
    TrialRecord,
)


class WandbTracker(Tracker):
    """Log trials to W&B project ``spec.project`` (default: the study name).

    >>> from automl.studyfile.sections import WandbSpec
    >>> WandbTracker(WandbSpec(mode="offline", dir="/tmp"), "my-study").project
    'my-study'
    """

    name = "wandb"

    def __init__(self, spec: WandbSpec, study_name: str) -> None:
        self.project = spec.project or study_name
        self.entity = spec.entity
        self.mode = spec.mode
        self.dir = spec.dir

    def log_trial(self, record: TrialRecord) -> None:
        config = dict(record.params) | {
            "automl": {
                TAG_STUDY: record.study_name,
                TAG_TRIAL: record.number,
                TAG_STORAGE: record.storage,
            }
        }
        tags = ["automl", record.state.name.lower()]
        run = self._init(record.study_name, "trial", record.run_name, config, tags)
        try:
            series = record.step_series()
            for step in record.steps():
                row = {k: steps[step] for k, steps in series.items() if step in steps}
                run.log(row | {"epoch": step}, step=step)
            for key, value in (record.summary() | {"automl": record.tags()}).items():
                run.summary[key] = value
        finally:
            run.finish(exit_code=1 if record.state == TrialState.FAIL else 0)

    def log_study(self, record: StudyRecord) -> None:
        best = record.best
        config: dict[str, Any] = {
            "automl": {TAG_STUDY: record.study_name, TAG_STORAGE: record.storage}
        }
        if best is not None:
            config |= {"best_params": dict(best.params)}
        run = self._init(
            record.study_name, "study", f"{record.study_name}-summary", config, ["automl", "study"]
        )
        try:
            run.summary["metric"] = record.metric
            run.summary["direction"] = record.direction
            for state, n in record.counts.items():
                run.summary[f"n_{state.lower()}"] = n
            if best is not None:
                run.summary["best_value"] = best.value
                run.summary["best_trial"] = best.number
                run.summary["best_epoch"] = best.best_epoch
            if record.multi:  # several objectives: the Pareto front instead of a best trial
                run.summary["objectives"] = list(record.objectives)
                run.summary["directions"] = list(record.directions)
                run.summary["front_size"] = len(record.front)
                run.summary["front_trials"] = record.front_numbers()
                run.summary["front"] = [
                    {"number": t.number, "values": t.values, "params": t.params}
                    for t in record.front
                ]
        finally:
            run.finish()

    def _init(
        self, group: str, job_type: str, name: str, config: dict[str, Any], tags: list[str]
    ) -> Any:
        import wandb

        settings = wandb.Settings(
            silent=True,
            console="off",  # a worker's stdout is not the run's to capture
            x_disable_stats=True,
            x_disable_meta=True,
            init_timeout=30,
        )
        return wandb.init(
            project=self.project, entity=self.entity, group=group, job_type=job_type, name=name,
            config=config, tags=tags, dir=self.dir, mode=self.mode, reinit="create_new",
            settings=settings,
        )  # fmt: skip
