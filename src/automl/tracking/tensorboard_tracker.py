"""TensorBoard: one run folder per trial, ``<log_dir>/<study>/trial-<n>``, plus ``.../study``.

A trial's folder holds its per-epoch scalars (``cv/score``, ``cv/fold_<k>``, ``train/loss``,
``health/<stat>/<group>``, step = epoch), a text summary (state, prune epoch or failure
reason, host, slot, storage) and an HParams session (its params and state, metric
``hparam/value``), so the HParams tab compares the trials. The ``study`` folder holds the best
trial's params and value when ``automl run`` ends. With several objectives: ``cv/<name>`` per
epoch, HParams metrics ``hparam/<name>``, and the study folder's text ``automl/front`` is the
Pareto front. Written with PyTorch's ``SummaryWriter``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from automl.studyfile.sections import TensorboardSpec
from automl.tracking.base import StudyRecord, Tracker, TrialRecord, metric_name

VALUE_TAG = "hparam/value"


class TensorboardTracker(Tracker):
    """Write event files under ``spec.log_dir/<study name>/``.

    >>> from automl.studyfile.sections import TensorboardSpec
    >>> TensorboardTracker(TensorboardSpec(log_dir="/tmp/runs"), "my-study").root.as_posix()
    '/tmp/runs/my-study'
    """

    name = "tensorboard"

    def __init__(self, spec: TensorboardSpec, study_name: str) -> None:
        self.root = Path(spec.log_dir) / study_name

    def log_trial(self, record: TrialRecord) -> None:
        writer = _writer(self.root / record.run_name)
        try:
            for key, steps in record.step_series().items():
                for step, value in steps.items():
                    writer.add_scalar(key, value, step)
            writer.add_text("automl/trial", _table(record.summary() | record.tags()), 0)
            hparams = {k: _hparam(v) for k, v in record.params.items()} | {
                "state": record.state.name
            }
            if record.multi:  # several objectives: hparam/<name> each
                tags = [f"hparam/{metric_name(n)}" for n in record.objectives]
                values = [record.values.get(n) for n in record.objectives]
                _add_hparams(
                    writer,
                    hparams,
                    {t: v for t, v in zip(tags, values, strict=True) if v is not None},
                    tags,
                )
            else:
                _add_hparams(
                    writer, hparams, {VALUE_TAG: record.value} if record.value is not None else {}
                )
        finally:
            writer.close()

    def log_study(self, record: StudyRecord) -> None:
        writer = _writer(self.root / "study")
        try:
            lines: dict[str, Any] = {
                "study": record.study_name,
                "storage": record.storage,
                "metric": record.metric,
                "direction": record.direction,
            }
            lines |= {f"n_{state.lower()}": n for state, n in record.counts.items()}
            best = record.best
            if best is not None and best.value is not None:
                lines |= {"best_trial": best.number, "best_value": best.value}
                _add_hparams(
                    writer, {k: _hparam(v) for k, v in best.params.items()}, {VALUE_TAG: best.value}
                )
            if record.multi:  # several objectives: the Pareto front instead of a best trial
                lines |= {
                    "objectives": ", ".join(record.objectives),
                    "directions": ", ".join(record.directions),
                    "front_size": len(record.front),
                    "front_trials": ", ".join(map(str, record.front_numbers())),
                }
                writer.add_text("automl/front", _front_table(record), sum(record.counts.values()))
            writer.add_text("automl/study", _table(lines), sum(record.counts.values()))
        finally:
            writer.close()


def _writer(log_dir: Path) -> Any:
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(log_dir))


def _add_hparams(
    writer: Any,
    hparams: dict[str, Any],
    metrics: dict[str, float],
    declared: list[str] | None = None,
) -> None:
    """Write an HParams session into ``writer``'s own folder (``add_hparams`` would make a new one);
    ``declared``: the metric tags the session names (default: those of ``metrics``, or
    hparam/value)."""
    from torch.utils.tensorboard.summary import hparams as hparams_summary

    experiment, start, end = hparams_summary(
        hparams, dict.fromkeys(declared or metrics or {VALUE_TAG: 0.0}, 0.0)
    )
    file_writer = writer._get_file_writer()  # noqa: SLF001 - the documented add_hparams does the same
    for summary in (experiment, start, end):
        file_writer.add_summary(summary)
    for tag, value in metrics.items():
        writer.add_scalar(tag, value, 0)


def _hparam(value: Any) -> Any:
    return value if isinstance(value, bool | int | float | str) else str(value)


def _front_table(record: StudyRecord) -> str:
    """The Pareto front as a Markdown table: trial, each objective, hyperparameters."""
    head = ["trial", *record.objectives, "hyperparameters"]  # "params" may be an objective
    rows = [
        [
            str(t.number),
            *(
                f"{t.values.get(n):.6g}" if t.values.get(n) is not None else "-"
                for n in record.objectives
            ),
            ", ".join(f"{k}={v}" for k, v in sorted(t.params.items())),
        ]
        for t in record.front
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(
        lines + ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in rows]
    )


def _table(rows: dict[str, Any]) -> str:
    """A Markdown table, which TensorBoard's text tab renders."""
    return "| | |\n|---|---|\n" + "\n".join(
        f"| {k} | {str(v).replace('|', '/')} |" for k, v in rows.items()
    )
