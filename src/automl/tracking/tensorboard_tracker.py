"""TensorBoard: one run folder per trial, ``<log_dir>/<study>/trial-<n>``, plus ``.../study``.

A trial's folder holds its per-epoch scalars (``cv/score``, ``cv/fold_<k>``, ``train/loss``,
``health/<stat>/<group>``, step = epoch), a text summary (state, prune epoch or failure
reason, host, slot, storage) and an HParams session (its params and state, metric
``hparam/value``), so the HParams tab compares the trials. The ``study`` folder holds the best
trial's params and value when ``automl run`` ends. Written with PyTorch's ``SummaryWriter``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from automl.studyfile.sections import TensorboardSpec
from automl.tracking.base import StudyRecord, Tracker, TrialRecord

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
            for key, values in record.epoch_series().items():
                for epoch, value in enumerate(values, start=1):
                    if value is not None:
                        writer.add_scalar(key, value, epoch)
            writer.add_text("automl/trial", _table(record.summary() | record.tags()), 0)
            hparams = {k: _hparam(v) for k, v in record.params.items()} | {"state": record.state.name}
            metrics = {VALUE_TAG: record.value} if record.value is not None else {}
            _add_hparams(writer, hparams, metrics)
        finally:
            writer.close()

    def log_study(self, record: StudyRecord) -> None:
        writer = _writer(self.root / "study")
        try:
            lines: dict[str, Any] = {"study": record.study_name, "storage": record.storage,
                                     "metric": record.metric, "direction": record.direction}  # fmt: skip
            lines |= {f"n_{state.lower()}": n for state, n in record.counts.items()}
            best = record.best
            if best is not None and best.value is not None:
                lines |= {"best_trial": best.number, "best_value": best.value}
                _add_hparams(writer, {k: _hparam(v) for k, v in best.params.items()}, {VALUE_TAG: best.value})
            writer.add_text("automl/study", _table(lines), sum(record.counts.values()))
        finally:
            writer.close()


def _writer(log_dir: Path) -> Any:
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(log_dir))


def _add_hparams(writer: Any, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
    """Write an HParams session into ``writer``'s own folder (``add_hparams`` would make a new one)."""
    from torch.utils.tensorboard.summary import hparams as hparams_summary

    experiment, start, end = hparams_summary(hparams, dict.fromkeys(metrics or {VALUE_TAG: 0.0}, 0.0))
    file_writer = writer._get_file_writer()  # noqa: SLF001 - the documented add_hparams does the same
    for summary in (experiment, start, end):
        file_writer.add_summary(summary)
    for tag, value in metrics.items():
        writer.add_scalar(tag, value, 0)


def _hparam(value: Any) -> Any:
    return value if isinstance(value, bool | int | float | str) else str(value)


def _table(rows: dict[str, Any]) -> str:
    """A Markdown table, which TensorBoard's text tab renders."""
    return "| | |\n|---|---|\n" + "\n".join(f"| {k} | {str(v).replace('|', '/')} |" for k, v in rows.items())
