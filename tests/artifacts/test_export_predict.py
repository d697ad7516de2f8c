"""Export then predict, for real: the test metric reproduced, categorical columns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from automl.backends import InlineBackend
from automl.cli import main
from automl.coordinator import Coordinator
from automl.search import open_study
from automl.studyfile import parse_spec

DIGITS = """
name: {name}
storage: {storage}
objective: {{metric: accuracy}}
data: {{source: sklearn:digits, cv: {{folds: 3}}}}
trainer: {{epochs: 20, batch_size: 64}}
space:
  lr: {{low: 1.0e-3, high: 1.0e-2, log: true}}
  width: {{choices: [128, 256]}}
  depth: 2
  optimizer: adamw
search:
  n_trials: 2
  enqueue: [{{lr: 3.0e-3, width: 256}}]
"""


@pytest.mark.slow
def test_export_then_predict_reproduces_the_test_metric_on_digits(
    sqlite_url: str, study_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    spec = parse_spec(DIGITS.format(name=study_name, storage=sqlite_url))
    study = open_study(spec, sqlite_url)
    Coordinator(spec, study, InlineBackend(sqlite_url)).run()
    out = tmp_path / "model"
    assert (
        main(["export", "--storage", sqlite_url, "--study", study_name, "-o", str(out), "--json"])
        == 0
    )
    exported = json.loads(capsys.readouterr().out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"] == pytest.approx(exported["test_score"])
    assert metrics["test"] >= 0.97
    assert metrics["ensemble"] == exported["ensemble"] == 5  # 1,437 training rows: the default
    assert json.loads((out / "model.json").read_text())["ensemble"] == 5
    # The same held-out rows that export scored (same seed and stratification as the study).
    digits = load_digits()
    _, X_test, _, y_test = train_test_split(
        digits.images, digits.target, test_size=0.2, random_state=0, stratify=digits.target
    )
    np.savez(tmp_path / "test.npz", X=X_test, y=y_test)
    preds = tmp_path / "preds.csv"
    assert main(["predict", str(out), str(tmp_path / "test.npz"), "-o", str(preds), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["score"] == pytest.approx(metrics["test"], abs=1e-6)
    lines = preds.read_text().splitlines()
    assert len(lines) == 1 + len(y_test) and lines[0].startswith("prediction,p_0")
    # One model on request, and a member count that cannot be.
    assert (
        main(
            [
                "export",
                "--storage",
                sqlite_url,
                "--study",
                study_name,
                "-o",
                str(tmp_path / "one"),
                "--ensemble",
                "1",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "one" / "metrics.json").read_text())["ensemble"] == 1
    capsys.readouterr()
    assert (
        main(
            [
                "export",
                "--storage",
                sqlite_url,
                "--study",
                study_name,
                "-o",
                str(tmp_path / "none"),
                "--ensemble",
                "0",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert (
        err == "error: --ensemble must be at least 1, but got 0"
        and not (tmp_path / "none").exists()
    )


@pytest.mark.slow  # a study, an export and a prediction, each for real
def test_predict_on_a_csv_with_categorical_columns(
    sqlite_url: str, study_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    n = 240
    colour = rng.choice(["red", "green", "blue"], n)
    x = rng.normal(size=n)
    label = np.where((colour == "red") ^ (x > 0), "yes", "no")
    rows = ["x,colour,label"] + [
        f"{a:.4f},{c},{lab}" for a, c, lab in zip(x, colour, label, strict=True)
    ]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    study_file = tmp_path / "s.yaml"
    study_file.write_text(
        f"name: {study_name}\nstorage: {sqlite_url}\nobjective: {{metric: accuracy}}\n"
        "data: {source: csv:train.csv, target: label, cv: {folds: 2}}\n"
        "trainer: {epochs: 15}\nspace: {lr: 0.01, width: 32}\nsearch: {n_trials: 1}\n"
    )
    assert main(["run", str(study_file)]) == 0
    assert main(["export", str(study_file), "-o", str(tmp_path / "m")]) == 0
    # columns reordered; an unseen colour
    new = [
        "colour,x,label",
        "red,1.0,no",
        "blue,-1.0,no",
        "purple,0.5,yes",
    ]
    (tmp_path / "new.csv").write_text("\n".join(new) + "\n")
    capsys.readouterr()
    assert (
        main(
            [
                "predict",
                str(tmp_path / "m"),
                str(tmp_path / "new.csv"),
                "-o",
                str(tmp_path / "p.csv"),
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 3 and summary["score"] is not None
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == "prediction,p_no,p_yes"
    # No pickle anywhere in an export; a python: builder it names is imported only on request.
    assert not [p.name for p in (tmp_path / "m").iterdir() if p.suffix in (".pkl", ".pickle")]
    info = json.loads((tmp_path / "m" / "model.json").read_text())
    (tmp_path / "m" / "model.json").write_text(
        json.dumps(info | {"family": "python:tests.slow_model:build"})
    )
    assert (
        main(
            [
                "predict",
                str(tmp_path / "m"),
                str(tmp_path / "new.csv"),
                "-o",
                str(tmp_path / "q.csv"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert (
        "'tests.slow_model'" in err and "--trust-code" in err and not (tmp_path / "q.csv").exists()
    )
