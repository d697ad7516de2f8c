"""What an exported ensemble buys over one model, and what it costs.

For each data set, one fixed known-good configuration (automl's first MLP start point) is
retrained on all training rows the way `automl export` does, once per trainer seed: as a single
model and as an ensemble of N seeded members. It prints, over the seeds, the test score's mean,
spread and range for both, and the median time of each fit (data loading outside the timing).

    python benchmarks/bench_ensemble.py --seeds 10 --members 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
import torch

REGRESSION = {"diabetes"}


def study(name: str, seed: int, epochs: int) -> Any:
    from automl.studyfile import StudySpec

    metric = "rmse" if name in REGRESSION else "accuracy"
    return StudySpec.model_validate({
        "name": "bench", "objective": {"metric": metric}, "data": {"source": f"sklearn:{name}"},
        "trainer": {"epochs": epochs, "device": "cpu", "seed": seed},
    })  # fmt: skip


def main() -> None:
    from automl.auto.spaces import MLP_START
    from automl.training import fit_final, load_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets", nargs="+", default=["breast_cancer", "wine", "diabetes", "digits"]
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=40, help="automl's default up to 5,000 rows")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = dict(MLP_START[0])
    print(f"params {params}, {args.epochs} epochs, {args.members} members, {args.seeds} seeds")
    for name in args.datasets:
        spec0 = study(name, 0, args.epochs)
        dataset = load_dataset(spec0.data, spec0.objective.metric.task)
        rows: dict[int, tuple[list[float], list[float]]] = {1: ([], []), args.members: ([], [])}
        for seed in range(args.seeds):
            spec = study(name, seed, args.epochs)
            for n in rows:  # single and ensemble alternate, so load hits both alike
                started = time.perf_counter()
                fit = fit_final(spec, params, args.epochs, dataset, ensemble=n)
                rows[n][1].append(time.perf_counter() - started)
                rows[n][0].append(fit.test_score)
        for n, (scores, times) in rows.items():
            s = np.asarray(scores)
            print(
                f"{name:14s} {'single' if n == 1 else f'ensemble of {n}':14s} test mean "
                f"{s.mean():.4f}  std {s.std(ddof=1):.4f}  min {s.min():.4f}  max {s.max():.4f}  "
                f"fit median {statistics.median(times):6.2f} s  (n_test {len(dataset.y_test)})",
                flush=True,
            )


if __name__ == "__main__":
    main()
