"""How long ``automl`` takes to answer before it does any work: the cost of its imports.

    python benchmarks/bench_cli_startup.py --repeats 7 [--baseline REV]

Each command runs as a fresh process (``python -m automl ...``), one after another, and is
timed from start to exit. ``status`` reads a study of 20 finished trials in a SQLite file made
first, so it shows the start-up plus one small read. With ``--baseline REV`` the same commands
run from a ``git worktree`` of that revision too, interleaved with the current tree run by run,
so both see the same machine. Medians over ``--repeats``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMANDS = {
    "--help": ["--help"],
    "validate": ["validate", "{dir}/study.yaml"],
    "status": ["status", "--storage", "sqlite:///{dir}/b.db", "--study", "bench"],
}
STUDY = (
    "name: bench\nstorage: sqlite:///{dir}/b.db\nobjective: {{metric: accuracy}}\ndata: "
    "{{source: sklearn:iris}}\nspace: {{lr: {{low: 0.001, high: 0.1, log: true}}}}\n"
)


def _make_study(folder: Path) -> None:
    """The study as ``automl run`` creates it (its study file stored on it), with 20 trials."""
    import optuna

    from automl.search import open_study, quiet_optuna
    from automl.studyfile import parse_spec

    quiet_optuna()
    (folder / "study.yaml").write_text(STUDY.format(dir=folder))
    spec = parse_spec((folder / "study.yaml").read_text())
    study = open_study(spec, spec.storage)
    dist = optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True)
    for i in range(20):
        study.add_trial(
            optuna.trial.create_trial(
                params={"lr": 1e-3 * (i + 1)}, distributions={"lr": dist}, value=i / 20
            )
        )


def _time(src: Path, args: list[str], folder: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(src))
    argv = [sys.executable, "-m", "automl", *(a.format(dir=folder) for a in args)]
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--baseline", metavar="REV", help="a git revision to compare with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _make_study(folder)
        trees = {"current": ROOT / "src"}
        if args.baseline:
            base = folder / "baseline"
            subprocess.run(
                [
                    "git",
                    "-C",
                    str(ROOT),
                    "worktree",
                    "add",
                    "-q",
                    "--detach",
                    str(base),
                    args.baseline,
                ],
                check=True,
            )
            trees["baseline " + args.baseline] = base / "src"
        try:
            times: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.repeats):
                for name, cmd in COMMANDS.items():
                    for tree, src in trees.items():
                        times.setdefault((tree, name), []).append(_time(src, cmd, folder))
        finally:
            if args.baseline:
                subprocess.run(
                    [
                        "git",
                        "-C",
                        str(ROOT),
                        "worktree",
                        "remove",
                        "--force",
                        str(folder / "baseline"),
                    ],
                    check=True,
                )
        print(
            f"{'command':<10} "
            + " ".join(f"{tree:>24}" for tree in trees)
            + "   (median s of "
            + str(args.repeats)
            + ")"
        )
        for name in COMMANDS:
            print(
                f"{name:<10} "
                + " ".join(f"{statistics.median(times[(tree, name)]):>24.2f}" for tree in trees)
            )


if __name__ == "__main__":
    main()
