"""TensorBoard: a tiny study's event files read back with TensorBoard's EventAccumulator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from automl.studyfile import StudySpec
from automl.tracking import log_trial
from tests.tracking.conftest import add_ended_trials, close, finished, run_tracked

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData  # noqa: E402


def _load(folder: Path) -> EventAccumulator:
    assert folder.is_dir(), f"no run folder {folder}"
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def _values(acc: EventAccumulator, tag: str) -> list[float]:
    return [e.value for e in acc.Scalars(tag)]


def _hparams(acc: EventAccumulator) -> dict[str, object]:
    """The params of the run's HParams session."""
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    data = HParamsPluginData.FromString(content)
    out: dict[str, object] = {}
    for name, value in data.session_start_info.hparams.items():
        out[name] = getattr(value, value.WhichOneof("kind"))
    return out


def _text(acc: EventAccumulator, tag: str) -> str:
    return acc.Tensors(tag)[0].tensor_proto.string_val[0].decode()


def test_every_trial_is_a_run_folder_with_scalars_text_and_hparams(
    tracked_spec: Callable[..., StudySpec], tmp_path: Path
) -> None:
    spec = tracked_spec(f'{{tensorboard: {{log_dir: "{tmp_path / "tb"}"}}}}', n_trials=3)
    study = run_tracked(spec)
    root = tmp_path / "tb" / spec.name
    trials = finished(study)
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [f"trial-{t.number}" for t in trials] + ["study"]
    )
    for t in trials:
        acc = _load(root / f"trial-{t.number}")
        curve = t.user_attrs["curve"]
        assert [e.step for e in acc.Scalars("cv/score")] == list(range(1, len(curve) + 1))
        assert _values(acc, "cv/score") == pytest.approx(curve, rel=1e-6)
        assert _values(acc, "cv/fold_1") == pytest.approx(t.user_attrs["fold_curves"][0], rel=1e-6)
        health = t.user_attrs["health"]
        last = health["groups"][-1]
        assert _values(acc, f"health/weight_norm/{last}") == pytest.approx(
            [e[-1] for e in health["weight_norm"]], rel=1e-6
        )
        text = _text(acc, "automl/trial/text_summary")
        assert f"| state | {t.state.name} |" in text and "| slot | inline |" in text
        assert f"| automl.storage | {spec.storage} |" in text
        hp = _hparams(acc)
        assert hp["state"] == t.state.name
        assert (
            hp["lr"] == pytest.approx(t.params["lr"]) and hp["optimizer"] == t.params["optimizer"]
        )
        if t.state == TrialState.COMPLETE:
            assert close(_values(acc, "hparam/value")[0], t.value)

    study_run = _load(root / "study")
    assert close(_values(study_run, "hparam/value")[0], study.best_value)
    assert _hparams(study_run)["lr"] == pytest.approx(study.best_trial.params["lr"])
    assert f"| best_trial | {study.best_trial.number} |" in _text(
        study_run, "automl/study/text_summary"
    )


def test_pruned_and_failed_trials_show_their_state(
    tracked_spec: Callable[..., StudySpec], tmp_path: Path
) -> None:
    spec = tracked_spec(f'{{tensorboard: {{log_dir: "{tmp_path / "tb"}"}}}}')
    study = optuna.create_study(direction="maximize")
    pruned, failed = add_ended_trials(study)
    log_trial(study, spec, spec.storage, pruned)
    log_trial(study, spec, spec.storage, failed)
    p = _load(tmp_path / "tb" / spec.name / f"trial-{pruned}")
    assert _values(p, "cv/score") == pytest.approx([0.4, 0.45], rel=1e-6)
    assert "| pruned_at_epoch | 2 |" in _text(p, "automl/trial/text_summary")
    assert _hparams(p)["state"] == "PRUNED" and "hparam/value" not in p.Tags()["scalars"]
    f = _load(tmp_path / "tb" / spec.name / f"trial-{failed}")
    assert "| reason | out of memory |" in _text(f, "automl/trial/text_summary")
    assert _hparams(f)["state"] == "FAIL"
