"""automl from a minimal study file against what users would pick instead, at equal budget.

For each data set and each split seed, on the same train/test split (automl's own:
test_size 0.2, ``data.cv.seed`` = the split seed, stratified for classification) and the same
wall-clock budget, one after another:

* **automl**: a study file with only the data, the metric and ``timeout``; `automl run`, then
  `automl export` for the held-out test score (the real commands, as subprocesses);
* **automl-single** (an ablation, not a default): the same with one k-fold CV per trial
  (``cv.repeats: 1``) and a single exported model (``--ensemble 1``), i.e. automl without its
  two small-data measures;
* **sklearn**: ``HalvingRandomSearchCV`` over ``StandardScaler + MLPClassifier/MLPRegressor``
  (5-fold, n_jobs = cores), stopped at its own end (its time is reported);
* **optuna**: plain Optuna, TPE + median pruner, ``n_jobs`` = cores, over a typical PyTorch
  loop (``DataLoader``, an MLP, Adam, 5-fold CV one fold after another, the running fold mean
  reported for pruning), then the best params retrained on all training rows.

Scores: accuracy for classification, RMSE for regression (lower is better). With several
split seeds the table at the end gives each method's mean over the splits; a test split of
wine holds 36 rows, so one split alone cannot tell methods apart.

    python benchmarks/bench_automl.py --budget 180 --datasets digits breast_cancer wine diabetes
    python benchmarks/bench_automl.py --budget 60 --splits 3 --datasets breast_cancer wine diabetes
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REGRESSION = {"diabetes"}
CORES = os.cpu_count() or 1


def split(name: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """automl's split of the data set for this seed, flattened for the baselines."""
    from automl.studyfile import DataSpec, Task
    from automl.studyfile.schema import CVSpec
    from automl.training import load_dataset

    task = Task.REGRESSION if name in REGRESSION else Task.CLASSIFICATION
    ds = load_dataset(DataSpec(source=f"sklearn:{name}", cv=CVSpec(seed=seed)), task)
    flat = lambda X: X.reshape(len(X), -1)  # noqa: E731
    return flat(ds.X_train), ds.y_train, flat(ds.X_test), ds.y_test


def score(name: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import accuracy_score, mean_squared_error

    if name in REGRESSION:
        return float(np.sqrt(mean_squared_error(y_true, y_pred)))
    return float(accuracy_score(y_true, y_pred))


def run_automl(
    name: str, seed: int, budget_s: float, workdir: Path, single: bool = False
) -> dict[str, Any]:
    metric = "rmse" if name in REGRESSION else "accuracy"
    tag = f"{name}-{seed}{'-single' if single else ''}"
    study = workdir / f"{tag}.yaml"
    storage = f"sqlite:///{workdir / (tag + '.db')}"
    cv = f"{{seed: {seed}{', repeats: 1' if single else ''}}}"
    study.write_text(
        f"name: bench-{tag}\nstorage: {storage}\nobjective: {{metric: {metric}}}\n"
        f"data: {{source: sklearn:{name}, cv: {cv}}}\nsearch: {{timeout: {int(budget_s)}}}\n"
    )
    automl = [sys.executable, "-m", "automl"]
    started = time.monotonic()
    subprocess.run([*automl, "run", str(study)], check=True, capture_output=True, text=True)
    wall = time.monotonic() - started
    out = workdir / f"{tag}-export"
    ensemble = ["--ensemble", "1"] if single else []
    subprocess.run(
        [*automl, "export", str(study), "-o", str(out), *ensemble],
        check=True,
        capture_output=True,
        text=True,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    status = json.loads(
        subprocess.run(
            [*automl, "status", str(study), "--json"], check=True, capture_output=True, text=True
        ).stdout
    )
    trials = sum(status["counts"].values())
    return {"cv": metrics["cv"], "test": metrics["test"], "trials": trials, "wall_s": wall}


def run_sklearn(name: str, budget_s: float, data: tuple[np.ndarray, ...]) -> dict[str, Any]:
    from scipy.stats import loguniform
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV, KFold, StratifiedKFold
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, X_test, y_test = data
    regression = name in REGRESSION
    estimator = (
        MLPRegressor(max_iter=300, random_state=0)
        if regression
        else MLPClassifier(max_iter=300, random_state=0)
    )
    pipe = make_pipeline(StandardScaler(), estimator)
    prefix = pipe.steps[-1][0] + "__"
    space = {
        prefix + "hidden_layer_sizes": [(64,), (128,), (256,), (128, 128), (256, 128), (512,)],
        prefix + "alpha": loguniform(1e-6, 1e-2),
        prefix + "learning_rate_init": loguniform(1e-4, 1e-2),
        prefix + "batch_size": [32, 64, 128],
        prefix + "activation": ["relu", "tanh"],
    }
    cv = (
        KFold(5, shuffle=True, random_state=0)
        if regression
        else StratifiedKFold(5, shuffle=True, random_state=0)
    )
    search = HalvingRandomSearchCV(
        pipe, space, n_candidates=96, factor=3, cv=cv, random_state=0, n_jobs=CORES,
        scoring="neg_root_mean_squared_error" if regression else "accuracy",
    )  # fmt: skip
    import warnings

    started = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on the small resources
        search.fit(X, y)
    wall = time.monotonic() - started
    cv_score = -search.best_score_ if regression else search.best_score_
    return {"cv": float(cv_score), "test": score(name, y_test, search.predict(X_test)),
            "trials": int(sum(search.n_candidates_)), "wall_s": wall}  # fmt: skip


def run_optuna(name: str, budget_s: float, data: tuple[np.ndarray, ...]) -> dict[str, Any]:
    import optuna
    import torch
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.preprocessing import StandardScaler
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    X, y, X_test, y_test = data
    regression = name in REGRESSION
    n_out = 1 if regression else int(y.max()) + 1

    def fit(
        params: dict[str, Any], Xtr: np.ndarray, ytr: np.ndarray, epochs: int = 40
    ) -> tuple[nn.Module, StandardScaler]:
        scaler = StandardScaler().fit(Xtr)
        layers: list[nn.Module] = []
        width, d_in = params["width"], Xtr.shape[1]
        for _ in range(params["depth"]):
            layers += [nn.Linear(d_in, width), nn.ReLU(), nn.Dropout(params["dropout"])]
            d_in = width
        model = nn.Sequential(*layers, nn.Linear(d_in, n_out))
        target = torch.tensor(ytr, dtype=torch.float32 if regression else torch.long)
        loader = DataLoader(
            TensorDataset(torch.tensor(scaler.transform(Xtr), dtype=torch.float32), target),
            batch_size=params["batch_size"],
            shuffle=True,
        )
        opt = torch.optim.Adam(
            model.parameters(), lr=params["lr"], weight_decay=params["weight_decay"]
        )
        loss_fn: nn.Module = nn.MSELoss() if regression else nn.CrossEntropyLoss()
        for _ in range(epochs):
            model.train()
            for xb, yb in loader:
                opt.zero_grad()
                out = model(xb)
                loss = loss_fn(out[:, 0], yb) if regression else loss_fn(out, yb)
                loss.backward()
                opt.step()
        return model.eval(), scaler

    def predict(model: nn.Module, scaler: StandardScaler, Xv: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = model(torch.tensor(scaler.transform(Xv), dtype=torch.float32))
        return out[:, 0].numpy() if regression else out.argmax(1).numpy()

    def objective(trial: optuna.Trial) -> float:
        params = {
            "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
            "width": trial.suggest_categorical("width", [64, 128, 256, 512]),
            "depth": trial.suggest_int("depth", 1, 3),
            "dropout": trial.suggest_float("dropout", 0.0, 0.4),
            "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128]),
        }
        cv = (
            KFold(5, shuffle=True, random_state=0)
            if regression
            else StratifiedKFold(5, shuffle=True, random_state=0)
        )
        scores = []
        for fold, (tr, va) in enumerate(cv.split(X, y)):
            model, scaler = fit(params, X[tr], y[tr])
            scores.append(score(name, y[va], predict(model, scaler, X[va])))
            trial.report(float(np.mean(scores)), fold)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    study = optuna.create_study(
        direction="minimize" if regression else "maximize",
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(),
    )
    started = time.monotonic()
    study.optimize(objective, timeout=budget_s, n_jobs=CORES)
    wall = time.monotonic() - started
    model, scaler = fit({**study.best_params}, X, y)
    return {"cv": study.best_value, "test": score(name, y_test, predict(model, scaler, X_test)),
            "trials": len(study.trials), "wall_s": wall}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget", type=float, default=180.0, help="seconds per method and data set"
    )
    parser.add_argument(
        "--datasets", nargs="+", default=["digits", "breast_cancer", "wine", "diabetes"]
    )
    parser.add_argument("--splits", type=int, default=1, help="how many split seeds per data set")
    parser.add_argument(
        "--first-split", type=int, default=0, help="the first split seed (default 0)"
    )
    parser.add_argument("--methods", nargs="+", default=["automl", "sklearn", "optuna"],
                        choices=["automl", "automl-single", "sklearn", "optuna"])  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets:
            for seed in range(args.first_split, args.first_split + args.splits):
                data = split(name, seed)
                for method in args.methods:
                    if method.startswith("automl"):
                        row = run_automl(
                            name, seed, args.budget, Path(tmp), single=method == "automl-single"
                        )
                    elif method == "sklearn":
                        row = run_sklearn(name, args.budget, data)
                    else:
                        row = run_optuna(name, args.budget, data)
                    metric = "rmse" if name in REGRESSION else "accuracy"
                    row = {
                        "dataset": name,
                        "split": seed,
                        "method": method,
                        "metric": metric,
                        **row,
                    }
                    results.append(row)
                    print(
                        f"{name:14s} split {seed} {method:13s} cv {row['cv']:.4f}  test "
                        f"{row['test']:.4f}  "
                        f"trials {row['trials']:4d}  wall {row['wall_s']:6.1f} s",
                        flush=True,
                    )
    print_means(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def print_means(results: list[dict[str, Any]]) -> None:
    """Each method's mean over the split seeds, per data set."""
    print("\nmeans over splits")
    for name in dict.fromkeys(r["dataset"] for r in results):
        for method in dict.fromkeys(r["method"] for r in results):
            rows = [r for r in results if r["dataset"] == name and r["method"] == method]
            if rows:
                mean = {
                    k: float(np.mean([r[k] for r in rows]))
                    for k in ("cv", "test", "trials", "wall_s")
                }
                print(
                    f"{name:14s} {method:13s} cv {mean['cv']:.4f}  test {mean['test']:.4f}  "
                    f"trials {mean['trials']:6.1f}  wall {mean['wall_s']:6.1f} s  "
                    f"({len(rows)} splits)"
                )


if __name__ == "__main__":
    main()
