"""automl export on digits, compressed or not, and automl predict on what it wrote."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from automl.cli import main
from tests.artifacts.helpers import ACCURACY_AND_PARAMS, add_trial, make_study, read_json


def _export(url: str, name: str, out: Path, *flags: str) -> dict:
    assert (
        main(
            ["export", "--storage", url, "--study", name, "-o", str(out), "--ensemble", "1", *flags]
        )
        == 0
    )
    return read_json(out / "metrics.json")  # type: ignore[no-any-return]


def _predict(folder: Path, data: Path, capsys: pytest.CaptureFixture[str]) -> float:
    capsys.readouterr()
    assert (
        main(["predict", str(folder), str(data), "-o", str(folder.parent / "p.csv"), "--json"]) == 0
    )
    return float(json.loads(capsys.readouterr().out)["score"])


@pytest.fixture(scope="module")
def test_rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The held-out digits that export scores on (same seed and stratification)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    _, X, _, y = train_test_split(
        digits.images, digits.target, test_size=0.2, random_state=0, stratify=digits.target
    )
    path = tmp_path_factory.mktemp("digits") / "test.npz"
    np.savez(path, X=X, y=y)
    return path


def _dtypes(path: Path) -> dict[str, tuple[str, list[int]]]:
    with safe_open(str(path), framework="pt") as handle:
        return {
            k: (handle.get_slice(k).get_dtype(), handle.get_slice(k).get_shape())
            for k in handle.keys()  # noqa: SIM118
        }


def test_int8_holds_i8_weights_and_f32_scales_and_predicts_like_the_float_model(
    journal_url: str,
    study_name: str,
    tmp_path: Path,
    test_rows: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    study, _ = make_study(journal_url, study_name)
    add_trial(study, [0.95], lr=1e-2, width=64)
    metrics = _export(journal_url, study_name, tmp_path / "q", "--quantize", "int8")
    out = capsys.readouterr().out
    assert "int8" in out and "(float 0." in out and "x)" in out
    tensors = _dtypes(tmp_path / "q" / "model.safetensors")
    assert tensors["layers.0.linear.weight"] == ("I8", [64, 64]) and tensors["out.weight"] == (
        "I8",
        [10, 64],
    )
    assert tensors["layers.0.linear.weight.scale"] == ("F32", [64]) and tensors["out.bias"] == (
        "F32",
        [10],
    )
    assert not [
        p for p in (tmp_path / "q").iterdir() if p.suffix in (".pkl", ".pickle", ".pt", ".pth")
    ]
    assert metrics["precision"] == "int8" and metrics["pruned"] == 0
    assert metrics["size_bytes"] == (tmp_path / "q" / "model.safetensors").stat().st_size
    assert metrics["size_bytes"] <= 0.3 * metrics["float"]["size_bytes"]
    assert metrics["test"] >= metrics["float"]["test"] - 0.01 and metrics["float"]["test"] > 0.9
    assert metrics["latency_ms"] > 0 and metrics["float"]["latency_ms"] > 0
    assert {
        "metric",
        "cv",
        "cv_fold_scores",
        "trial",
        "epochs",
        "ensemble",
        "n_train",
        "n_test",
        "study",
    } <= set(metrics)
    assert _predict(tmp_path / "q", test_rows, capsys) == pytest.approx(metrics["test"])


def test_pruning_really_shrinks_the_model_and_predict_rebuilds_it(
    journal_url: str,
    study_name: str,
    tmp_path: Path,
    test_rows: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    study, _ = make_study(journal_url, study_name)
    add_trial(study, [0.95], lr=1e-2, width=64)
    metrics = _export(journal_url, study_name, tmp_path / "p", "--prune", "0.5")
    info = read_json(tmp_path / "p" / "model.json")
    assert info["widths"] == [32, 32] and info["pruned"] == 0.5 and info["precision"] == "fp32"
    tensors = _dtypes(tmp_path / "p" / "model.safetensors")
    assert tensors["layers.0.linear.weight"] == ("F32", [32, 64])
    assert tensors["layers.1.linear.weight"] == ("F32", [32, 32]) and tensors["out.weight"] == (
        "F32",
        [10, 32],
    )
    assert metrics["pruned"] == 0.5 and metrics["size_bytes"] < 0.4 * metrics["float"]["size_bytes"]
    assert metrics["test"] >= metrics["float"]["test"] - 0.03
    assert _predict(tmp_path / "p", test_rows, capsys) == pytest.approx(metrics["test"])
    # Both: pruned, fine-tuned, then int8.
    both = _export(journal_url, study_name, tmp_path / "b", "--prune", "0.5", "--quantize", "int8")
    assert _dtypes(tmp_path / "b" / "model.safetensors")["layers.1.linear.weight"] == (
        "I8",
        [32, 32],
    )
    assert both["precision"] == "int8" and both["pruned"] == 0.5
    assert both["size_bytes"] < 0.15 * both["float"]["size_bytes"]
    assert both["test"] >= both["float"]["test"] - 0.04
    assert _predict(tmp_path / "b", test_rows, capsys) == pytest.approx(both["test"])


def test_a_cnn_ensemble_is_pruned_and_quantised_member_by_member(  # three small CNNs: two seconds
    journal_url: str,
    study_name: str,
    tmp_path: Path,
    test_rows: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    study, _ = make_study(journal_url, study_name, family="cnn")
    add_trial(study, [0.95], lr=1e-2, width=32)
    out = tmp_path / "cnn"
    assert (
        main(
            [
                "export",
                "--storage",
                journal_url,
                "--study",
                study_name,
                "-o",
                str(out),
                "--ensemble",
                "3",
                "--prune",
                "0.5",
                "--quantize",
                "int8",
            ]
        )
        == 0
    )
    metrics = read_json(out / "metrics.json")
    # channels 8 and 16, head 32: halved
    assert read_json(out / "model.json")["widths"] == [
        4,
        8,
        16,
    ]
    tensors = _dtypes(out / "model.safetensors")
    for m in range(3):
        assert tensors[f"members.{m}.blocks.0.conv.weight"] == ("I8", [4, 1, 3, 3])
        assert tensors[f"members.{m}.blocks.1.conv.weight"] == ("I8", [8, 4, 3, 3])
        assert tensors[f"members.{m}.hidden.weight"] == ("I8", [16, 8 * 2 * 2])
        assert tensors[f"members.{m}.blocks.1.conv.bias"] == ("F32", [8])
    assert metrics["ensemble"] == 3 and metrics["test"] >= metrics["float"]["test"] - 0.05
    assert _predict(out, test_rows, capsys) == pytest.approx(metrics["test"])


def test_trial_exports_that_trial_with_its_params_and_epochs(
    journal_url: str, study_name: str, tmp_path: Path
) -> None:
    study, _ = make_study(journal_url, study_name)
    add_trial(study, [0.97], lr=1e-2, width=64, best_epoch=6)
    chosen = add_trial(study, [0.91], lr=2e-3, width=32, best_epoch=3)
    metrics = _export(journal_url, study_name, tmp_path / "t", "--trial", str(chosen))
    info = read_json(tmp_path / "t" / "model.json")
    assert info["params"]["lr"] == 2e-3 and info["params"]["width"] == 32
    assert metrics["trial"] == chosen and metrics["epochs"] == 3 and metrics["cv"] == 0.91
    assert metrics["precision"] == "fp32" and metrics["pruned"] == 0 and "float" not in metrics
    assert metrics["size_bytes"] == (tmp_path / "t" / "model.safetensors").stat().st_size
    assert _dtypes(tmp_path / "t" / "model.safetensors")["layers.0.linear.weight"] == (
        "F32",
        [32, 64],
    )


def test_several_objectives_export_the_documented_front_member(
    journal_url: str, study_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study, _ = make_study(journal_url, study_name, objective=ACCURACY_AND_PARAMS)
    add_trial(study, [0.92, 2_000], width=32)
    chosen = add_trial(study, [0.96, 6_000], width=64, best_epoch=4)
    add_trial(study, [0.94, 7_000], width=64)  # dominated
    assert (
        main(
            [
                "export",
                "--storage",
                journal_url,
                "--study",
                study_name,
                "-o",
                str(tmp_path / "m"),
                "--ensemble",
                "1",
                "--json",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    metrics = read_json(tmp_path / "m" / "metrics.json")
    assert metrics["trial"] == printed["trial"] == chosen and metrics["epochs"] == 4
    assert metrics["cv"] == 0.96 and metrics["metric"] == "accuracy"
    assert metrics["objectives"] == printed["objectives"] == {"accuracy": 0.96, "params": 6_000}
    assert printed["size_bytes"] == metrics["size_bytes"] and printed["precision"] == "fp32"


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--trial", "1"], "--trial: trial 1 is PRUNED"),
        (["--trial", "9"], "--trial: study"),
        (["--prune", "0"], "--prune must be a fraction between 0 and 1"),
        (["--prune", "1"], "--prune must be a fraction between 0 and 1"),
        (["--prune", "-0.5"], "--prune must be a fraction between 0 and 1"),
        (["--prune", "nan"], "--prune must be a fraction between 0 and 1"),
        (["--quantize", "int4"], "--quantize: 'int4' is not a scheme"),
        (["--ensemble", "0"], "--ensemble must be at least 1"),
    ],
)
def test_bad_flags_exit_2_with_one_line_naming_the_flag_and_write_nothing(
    journal_url: str,
    study_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    needle: str,
) -> None:
    from optuna.trial import TrialState

    study, _ = make_study(journal_url, study_name)
    add_trial(study, [0.9])
    add_trial(study, None, state=TrialState.PRUNED)
    out = tmp_path / "never"
    assert (
        main(["export", "--storage", journal_url, "--study", study_name, "-o", str(out), *flags])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and err.startswith("error: ")
    assert not out.exists()


def test_a_python_builder_cannot_be_pruned(
    journal_url: str, study_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study, _ = make_study(journal_url, study_name, family="python:tests.slow_model:build")
    add_trial(study, [0.9])
    assert (
        main(
            [
                "export",
                "--storage",
                journal_url,
                "--study",
                study_name,
                "-o",
                str(tmp_path / "x"),
                "--prune",
                "0.5",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        "error: --prune: the model is built by your code (python:tests.slow_model:build)"
    )
    assert len(err.splitlines()) == 1 and not (tmp_path / "x").exists()
