"""Several objectives: hypervolume of the front against epochs trained, four ways, equal compute.

For each problem (a data set and a model cost: ``params`` or ``flops``, both minimised, with
accuracy maximised) and each seed, four arms search the same space (studies/digits_pareto.yaml's:
lr log, width 8..256 log, depth 1..3, dropout 0..0.3; MLP, 3-fold CV, 12 epochs, early
stopping off, so that only the pruner ends a trial early) with the same budget E counted in
epochs trained:

* ``automl pruned``: the real coordinator (``Coordinator`` + ``InlineBackend``, capacity 1:
  one trial at a time in this process, so every arm is sequential) on a throwaway SQLite file,
  two objectives, TPE, the Pareto Hyperband pruner (min_resource 1, reduction_factor 3), or
  with ``--pruner successive_halving`` the Pareto successive-halving pruner (plain MO-ASHA: every
  trial in the most aggressive bracket) with the same options;
* ``automl unpruned``: the same with ``pruner: {type: none}``;
* ``optuna nsga2`` and ``optuna tpe``: plain Optuna, an in-memory study with
  ``directions=["maximize", "minimize"]`` and ``NSGAIISampler(seed=s)`` / ``TPESampler(seed=s)``,
  ``study.optimize`` over an objective that samples the same space with ``trial.suggest_*`` and
  trains it with automl's engine (``automl.training.cross_validate``), so a configuration
  scores the same in every arm; no pruning.

The automl arms run in rounds: the study resumes with a larger ``n_trials`` until the epochs of
its finished trials (user attribute ``epochs_run``) reach E; each later round gets a new
sampler seed, since a resumed sampler with the same seed replays its random stream. Then every
arm's trials, in completion order, are cut where the cumulative epochs would pass E.

The hypervolume (``automl.search.pareto.hypervolume``) is of the COMPLETE trials' vectors
(pruned trials never enter a front), with a fixed reference point per problem: accuracy 0.5 and
1.1 x the cost of the largest model of the space; it is divided by the reference box
(1 - 0.5) x that cost, so 1.0 would be accuracy 1 at zero cost. Per problem and arm it prints
the median over seeds of the hypervolume at E/4, E/2 and E, and for the pruned arm the epochs
it needed (median over seeds, inf where a seed never got there within E) to reach each other
arm's median final hypervolume. The same for the hypervolume on log10(cost) (reference
log10(ref_cost), box down to the smallest model's cost). For a reading of why pruning helps or
not, it also measures on the unpruned arm's full-length trials how much of the final front the
top third at each Hyperband rung keeps. The last line is one JSON object with every figure.

``--arms`` (a comma list, ``_`` for a space: ``automl_pruned,optuna_tpe``) runs only some
arms; each arm is deterministic for its seed, so a run of the pruned arm alone can be compared
with the figures of an earlier run of the others. "Reaches after" is printed only against arms
that ran, and the rung check only when the unpruned arm ran.

``--epochs`` and ``--lr-low`` (the floor of the lr range; 1e-3 by default, the study file's)
set longer trials and a space with more configurations that need many epochs. Besides the
scikit-learn data sets by name, ``make_classification`` is a generated one (3,000 rows, 20
features, 4 classes; the options in ``GENERATED``, seed 0), for a second data set where
nothing can be downloaded. The JSON line keeps every seed's curve (``events_by_seed``).

    flock /tmp/automl-bench.lock python benchmarks/bench_pareto.py --seeds 5 --budget-trials 40 \
        --datasets digits,breast_cancer --flops breast_cancer      # 15 min on 2 cores
    flock /tmp/automl-bench.lock python benchmarks/bench_pareto.py --seeds 5 --budget-trials 40 \
        --epochs 27 --lr-low 1e-4 --datasets make_classification   # 21 min, loaded
    flock /tmp/automl-bench.lock python benchmarks/bench_pareto.py --seeds 5 --budget-trials 30 \
        --epochs 81 --lr-low 1e-4 --datasets digits --pruner successive_halving --arms automl_pruned
    python benchmarks/bench_pareto.py --quick
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import torch

ARMS = ("automl pruned", "automl unpruned", "optuna nsga2", "optuna tpe")
PRUNERS = ("hyperband", "successive_halving")
REF_ACCURACY = 0.5
SPACE_YAML = """\
  lr: {{low: {lr_low!r}, high: 3.0e-2, log: true}}
  width: {{low: 8, high: 256, log: true}}
  depth: {{low: 1, high: 3}}
  dropout: {{low: 0.0, high: 0.3}}"""
# Generated data sets ("one more data set" where nothing can be downloaded): scikit-learn's
# generator with fixed options and seed, so every arm and every run sees the same rows.
GENERATED = {
    "make_classification": {
        "n_samples": 3000, "n_features": 20, "n_informative": 10, "n_redundant": 4, "n_classes": 4,
        "n_clusters_per_class": 2, "class_sep": 1.0, "flip_y": 0.02, "random_state": 0,
    },
}  # fmt: skip
LARGEST = {"lr": 1e-3, "width": 256, "depth": 3, "dropout": 0.0}
SMALLEST = {"lr": 1e-3, "width": 8, "depth": 1, "dropout": 0.0}


@dataclass
class Problem:
    dataset: str
    cost: str  # params | flops
    epochs: int
    lr_low: float = 1e-3  # the floor of the lr range (the ceiling is 3e-2)

    @property
    def data_yaml(self) -> str:
        options = GENERATED.get(self.dataset)
        extra = f", options: {json.dumps(options)}" if options else ""
        return f'{{source: "sklearn:{self.dataset}", cv: {{folds: 3, seed: 0}}{extra}}}'

    @property
    def key(self) -> str:
        return f"{self.dataset}/{self.cost}"


@dataclass
class Run:
    """One arm on one seed: every finished trial in completion order, cut at the budget."""

    # (cumulative epochs, hv, hv on log cost)
    events: list[tuple[int, float, float]] = field(default_factory=list)
    # complete trials: (accuracy per epoch, cost)
    curves: list[tuple[list[float], float]] = field(default_factory=list)
    trials: int = 0
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    epochs_pruned: int = 0  # epochs spent on trials that were pruned
    wall_s: float = 0.0
    rounds: int = 1

    def hv_at(self, epochs: float, log: bool = False) -> float:
        hv = 0.0
        for used, value, value_log in self.events:
            if used > epochs:
                break
            hv = value_log if log else value
        return hv

    def epochs_to(self, target: float, log: bool = False) -> float:
        for used, value, value_log in self.events:
            if (value_log if log else value) >= target - 1e-12:
                return float(used)
        return math.inf


def spec_yaml(problem: Problem, name: str, storage: str, seed: int, sampler_seed: int, pruned: bool,
              n_trials: int, min_resource: int, pruner_type: str = "hyperband",
              reduction_factor: int = 3) -> str:  # fmt: skip
    pruner = (
        f"{{type: {pruner_type}, min_resource: {min_resource}, "
        f"reduction_factor: {reduction_factor}}}"
        if pruned
        else "{type: none}"
    )
    return f"""\
name: {name}
storage: {storage}
objective: [{{metric: accuracy}}, {{metric: {problem.cost}}}]
data: {problem.data_yaml}
model: {{family: mlp}}
trainer: {{epochs: {problem.epochs}, batch_size: 64, early_stopping: null, device: cpu, \
seed: {seed}}}
space:
{SPACE_YAML.format(lr_low=problem.lr_low)}
search:
  sampler: {{type: tpe, seed: {sampler_seed}}}
  pruner: {pruner}
  n_trials: {n_trials}
execution: {{parallelism: 1}}  # the InlineBackend runs it, one trial at a time
"""


@dataclass
class Reference:
    """The fixed reference point (as losses) and the boxes the hypervolumes are divided by.

    ``linear``: cost as it is; the box is (1 - 0.5) x ref_cost. ``log``: log10(cost), reference
    log10(ref_cost); the box is (1 - 0.5) x (log10(ref_cost) - log10(the smallest model's cost)),
    so 1.0 would be accuracy 1 at the smallest model's cost."""

    point: list[float]
    box: float
    smallest: float

    @property
    def log_point(self) -> list[float]:
        return [self.point[0], math.log10(self.point[1])]

    @property
    def log_box(self) -> float:
        return (1.0 - REF_ACCURACY) * (math.log10(self.point[1]) - math.log10(self.smallest))


def reference(problem: Problem) -> Reference:
    """The reference point: accuracy 0.5 and 1.1 x the cost of the largest model of the space."""
    from automl.studyfile import parse_spec
    from automl.studyfile.trainer_params import TrainParams
    from automl.training.cost import model_costs
    from automl.training.data import load_dataset

    spec = parse_spec(spec_yaml(problem, "ref", "sqlite:///unused.db", 0, 0, False, 1, 1))
    data = load_dataset(spec.dataset, spec.primary.builtin.task)
    p = TrainParams.from_mapping(LARGEST, batch_size=spec.trainer.batch_size, model_params=True)
    largest = model_costs(
        spec.cost_metrics, spec.model, p, LARGEST, data.input_shape, data.n_outputs
    )[problem.cost]
    q = TrainParams.from_mapping(SMALLEST, batch_size=spec.trainer.batch_size, model_params=True)
    smallest = model_costs(
        spec.cost_metrics, spec.model, q, SMALLEST, data.input_shape, data.n_outputs
    )[problem.cost]
    ref_cost = 1.1 * largest
    return Reference([-REF_ACCURACY, ref_cost], (1.0 - REF_ACCURACY) * ref_cost, smallest)


# epochs_run, state, accuracy, cost, accuracy per epoch
Finished = tuple[int, str, float, float, list[float]]


def curve(finished: list[Finished], budget: int, ref: Reference) -> Run:
    """``finished`` in completion order -> the run, cut where its epochs would pass ``budget``."""
    from automl.search.pareto import as_loss, hypervolume

    run = Run()
    used, front = 0, []
    for epochs, state, accuracy, cost, per_epoch in finished:
        if used + epochs > budget:
            break
        used += epochs
        run.trials += 1
        if state == "COMPLETE":
            run.complete += 1
            front.append([accuracy, cost])
            run.curves.append((per_epoch, cost))
        elif state == "PRUNED":
            run.pruned += 1
            run.epochs_pruned += epochs
        else:
            run.failed += 1
        losses = as_loss(front, [True, False]) if front else None
        hv = hypervolume(losses, ref.point) / ref.box if losses is not None else 0.0
        hv_log = 0.0
        if losses is not None:
            logged = losses.copy()
            logged[:, 1] = [math.log10(max(c, 1e-300)) for c in logged[:, 1]]
            hv_log = hypervolume(logged, ref.log_point) / ref.log_box
        run.events.append((used, hv, hv_log))
    return run


def run_automl(
    problem: Problem,
    seed: int,
    pruned: bool,
    budget: int,
    folder: Path,
    args: argparse.Namespace,
    ref: Reference,
) -> Run:
    from automl.backends import InlineBackend
    from automl.coordinator import Coordinator
    from automl.search import open_study
    from automl.search.storage import make_storage
    from automl.studyfile import parse_spec

    name = f"bench-{problem.dataset}-{problem.cost}-{'pruned' if pruned else 'unpruned'}-{seed}"
    url = f"sqlite:///{folder / (name + '.db')}"
    n_trials, rounds, started = math.ceil(budget / problem.epochs), 0, time.perf_counter()
    while True:
        rounds += 1
        spec = parse_spec(
            spec_yaml(
                problem,
                name,
                url,
                seed,
                seed + 1000 * (rounds - 1),
                pruned,
                n_trials,
                args.min_resource,
                args.pruner,
                args.reduction_factor,
            )
        )
        Coordinator(spec, open_study(spec, url), InlineBackend(url, capacity=1)).run()
        study = optuna.load_study(study_name=name, storage=make_storage(url))
        ended = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
        used = sum(int(t.user_attrs.get("epochs_run", 0)) for t in ended)
        if used >= budget:
            break
        mean = max(1.0, used / max(1, len(ended)))
        counted = sum(
            1
            for t in ended
            if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        )
        n_trials = counted + math.ceil((budget - used) / mean) + 1
    wall = time.perf_counter() - started
    ended.sort(key=lambda t: (t.datetime_complete, t.number))
    finished = []
    for t in ended:
        metrics = t.user_attrs.get("metrics") or {}
        values = t.values if t.state == optuna.trial.TrialState.COMPLETE else None
        accuracy = values[0] if values else metrics.get("accuracy", math.nan)
        cost = values[1] if values else metrics.get(problem.cost, math.nan)
        per_epoch = [float(v) for v in t.user_attrs.get("curve", [])]
        finished.append(
            (int(t.user_attrs.get("epochs_run", 0)), t.state.name, accuracy, cost, per_epoch)
        )
    run = curve(finished, budget, ref)
    run.wall_s, run.rounds = wall, rounds
    return run


def run_optuna(problem: Problem, seed: int, sampler_name: str, budget: int, ref: Reference) -> Run:
    from automl.studyfile import parse_spec
    from automl.training import DataCache, NullReporter, cross_validate

    spec = parse_spec(spec_yaml(problem, "plain", "sqlite:///unused.db", seed, seed, False, 1, 1))
    cache = DataCache()
    sampler = (
        optuna.samplers.NSGAIISampler(seed=seed)
        if sampler_name == "nsga2"
        else optuna.samplers.TPESampler(seed=seed)
    )
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    used = [0]

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        params = {
            "lr": trial.suggest_float("lr", problem.lr_low, 3e-2, log=True),
            "width": trial.suggest_int("width", 8, 256, log=True),
            "depth": trial.suggest_int("depth", 1, 3),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
        }
        result = cross_validate(spec, params, NullReporter(), cache=cache)
        trial.set_user_attr("epochs_run", result.epochs_run)
        trial.set_user_attr("curve", list(result.curve))
        used[0] += result.epochs_run
        return result.metrics["accuracy"], result.metrics[problem.cost]

    def stop(study: optuna.Study, _: Any) -> None:
        if used[0] >= budget:
            study.stop()

    started = time.perf_counter()
    study.optimize(objective, n_trials=10 * math.ceil(budget / problem.epochs), callbacks=[stop])
    wall = time.perf_counter() - started
    ended = sorted(
        (t for t in study.trials if t.state.is_finished()),
        key=lambda t: (t.datetime_complete, t.number),
    )
    finished: list[Finished] = [
        (
            int(t.user_attrs["epochs_run"]),
            t.state.name,
            *(t.values or [math.nan, math.nan]),
            t.user_attrs["curve"],
        )
        for t in ended
    ]
    run = curve(finished, budget, ref)
    run.wall_s = wall
    return run


def med(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def finite(value: Any) -> Any:
    """JSON-safe: nan and inf (a figure with no data) as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def fmt_epochs(value: float, budget: int) -> str:
    return "not reached" if math.isinf(value) else f"{value:.0f} ({value / budget:.2f} E)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--budget-trials", type=int, default=40, help="E = this many full trials' epochs"
    )
    parser.add_argument(
        "--datasets", default="digits,breast_cancer", help="sklearn data sets, accuracy vs params"
    )
    parser.add_argument("--flops", default="", help="data sets to run again with accuracy vs flops")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--min-resource", type=int, default=1)
    parser.add_argument(
        "--reduction-factor", type=int, default=3, help="the pruned arm's eta (default 3)"
    )
    parser.add_argument(
        "--lr-low", type=float, default=1e-3, help="the floor of the lr range (ceiling 3e-2)"
    )
    parser.add_argument(
        "--pruner", choices=PRUNERS, default="hyperband", help="the pruned arm's pruner"
    )
    parser.add_argument("--arms", default=",".join(a.replace(" ", "_") for a in ARMS),
                        help="arms to run, a comma list (default all four)")  # fmt: skip
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 1 seed, 4 trials' budget, 4 epochs"
    )
    args = parser.parse_args()
    arms = [a.strip().replace("_", " ") for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown or not arms:
        parser.error(f"--arms: unknown {', '.join(unknown) or '(none given)'}; choose from "
                     f"{', '.join(a.replace(' ', '_') for a in ARMS)}")  # fmt: skip
    arms = [a for a in ARMS if a in arms]
    if args.quick:
        args.seeds, args.budget_trials, args.epochs, args.datasets, args.flops = (
            1,
            4,
            4,
            "breast_cancer",
            "",
        )
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("automl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    problems = [
        Problem(d, "params", args.epochs, args.lr_low) for d in args.datasets.split(",") if d
    ]
    problems += [Problem(d, "flops", args.epochs, args.lr_low) for d in args.flops.split(",") if d]
    budget = args.budget_trials * args.epochs
    seeds = list(range(args.seeds))
    out: dict[str, Any] = {
        "budget_epochs": budget,
        "budget_trials": args.budget_trials,
        "epochs": args.epochs,
        "seeds": len(seeds),
        "min_resource": args.min_resource,
        "reduction_factor": args.reduction_factor,
        "lr_low": args.lr_low,
        "pruner": args.pruner,
        "arms": arms,
        "generated": GENERATED,
        "problems": {},
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-pareto-") as tmp:
        for problem in problems:
            ref = reference(problem)
            runs: dict[str, list[Run]] = {arm: [] for arm in arms}
            for (
                seed
            ) in seeds:  # arms interleaved seed by seed, so that load on the machine hits all alike
                if "automl pruned" in runs:
                    runs["automl pruned"].append(
                        run_automl(problem, seed, True, budget, Path(tmp), args, ref)
                    )
                if "automl unpruned" in runs:
                    runs["automl unpruned"].append(
                        run_automl(problem, seed, False, budget, Path(tmp), args, ref)
                    )
                if "optuna nsga2" in runs:
                    runs["optuna nsga2"].append(run_optuna(problem, seed, "nsga2", budget, ref))
                if "optuna tpe" in runs:
                    runs["optuna tpe"].append(run_optuna(problem, seed, "tpe", budget, ref))
                line = "  ".join(f"{arm} {runs[arm][-1].hv_at(budget):.4f}" for arm in arms)
                print(
                    f"[{time.perf_counter() - started:6.0f} s] {problem.key} seed {seed}: {line}",
                    file=sys.stderr,
                )
            out["problems"][problem.key] = summarise(problem, runs, budget, ref, args)
    out["wall_s"] = round(time.perf_counter() - started, 1)
    print_tables(out)
    print(json.dumps(finite(out), sort_keys=True, allow_nan=False))
    return 0


def rung_check(runs: list[Run], epochs: int, min_resource: int) -> dict[str, Any]:
    """How well an early epoch predicts the final front, measured on full-length trials (an
    unpruned arm): at each Hyperband rung (min_resource x 3^i epochs), the share of the final
    front (accuracy at the best epoch, cost) that Pareto ranking at that rung keeps in its top
    third (``select_top``, as the pruner ranks), and Spearman's rho of the accuracy there
    against the final accuracy. Median over seeds."""
    from scipy.stats import spearmanr

    from automl.search.pareto import as_loss, fronts, select_top

    out: dict[str, Any] = {}
    rung = min_resource
    while runs and rung < epochs:
        kept, rhos = [], []
        for run in runs:
            full = [(c, cost) for c, cost in run.curves if len(c) >= epochs]
            if len(full) < 6:
                continue
            final = as_loss([[max(c), cost] for c, cost in full], [True, False])
            early = as_loss([[c[rung - 1], cost] for c, cost in full], [True, False])
            front = set(fronts(final)[0])
            top = set(select_top(early, max(1, len(full) // 3)))
            kept.append(len(front & top) / len(front))
            rho = spearmanr([c[rung - 1] for c, _ in full], [max(c) for c, _ in full]).statistic
            rhos.append(float(rho))
        out[str(rung)] = {
            "front_kept_in_top_third": round(med(kept), 3),
            "spearman_rho": round(med(rhos), 3),
        }
        rung *= 3
    return out


def summarise(
    problem: Problem,
    runs: dict[str, list[Run]],
    budget: int,
    ref: Reference,
    args: argparse.Namespace,
) -> dict[str, Any]:
    arms: dict[str, Any] = {}
    for arm, rs in runs.items():
        arms[arm] = {
            "hv_final": med([r.hv_at(budget) for r in rs]),
            "hv_half": med([r.hv_at(budget / 2) for r in rs]),
            "hv_quarter": med([r.hv_at(budget / 4) for r in rs]),
            "hv_final_by_seed": [round(r.hv_at(budget), 6) for r in rs],
            "hv_log_final": med([r.hv_at(budget, log=True) for r in rs]),
            "hv_log_half": med([r.hv_at(budget / 2, log=True) for r in rs]),
            "hv_log_quarter": med([r.hv_at(budget / 4, log=True) for r in rs]),
            "best_accuracy": med(
                [max((max(c) for c, _ in r.curves), default=math.nan) for r in rs]
            ),
            "trials": med([r.trials for r in rs]),
            "complete": med([r.complete for r in rs]),
            "pruned": med([r.pruned for r in rs]),
            "failed": sum(r.failed for r in rs),
            "epochs_on_pruned": med([r.epochs_pruned for r in rs]),
            "epochs_used": med([r.events[-1][0] if r.events else 0 for r in rs]),
            "wall_s": round(med([r.wall_s for r in rs]), 1),
            "rounds_max": max(r.rounds for r in rs),
            # every finished trial: (cumulative epochs, hv, hv on log cost), for any later reading
            "events_by_seed": [[[e, round(h, 6), round(g, 6)] for e, h, g in r.events] for r in rs],
        }
    pruned = runs.get("automl pruned", [])
    reach: dict[str, Any] = {}
    for log in (False, True):
        for arm in [a for a in ARMS[1:] if a in runs and pruned]:
            target = arms[arm]["hv_log_final" if log else "hv_final"]
            hits = [r.epochs_to(target, log) for r in pruned]
            epochs = med(hits)
            reach[f"{arm}{' (log cost)' if log else ''}"] = {
                "target_hv": target, "epochs": None if math.isinf(epochs) else epochs,
                "ratio_to_budget": None if math.isinf(epochs) else round(epochs / budget, 3),
                "seeds_reached": sum(1 for h in hits if not math.isinf(h)),
                "by_seed": [None if math.isinf(h) else h for h in hits],
            }  # fmt: skip
    return {
        "reference": {
            "accuracy": REF_ACCURACY,
            problem.cost: ref.point[1],
            f"smallest_{problem.cost}": ref.smallest,
        },
        "arms": arms,
        "pruned_reaches": reach,
        "rungs_on_unpruned_trials": rung_check(
            runs.get("automl unpruned", []), args.epochs, args.min_resource
        ),
    }


def print_tables(out: dict[str, Any]) -> None:
    budget, n = out["budget_epochs"], out["seeds"]
    for key, figures in out["problems"].items():
        ref = figures["reference"]
        for log in (False, True):
            what = "hypervolume on log10(cost)" if log else "hypervolume"
            print(f"\n{key}, {what}: E = {budget} epochs, median of {n} seeds; reference {ref}")
            print(
                f"{'arm':<16} {'HV@E/4':>8} {'HV@E/2':>8} {'HV@E':>8} {'trials':>7} "
                f"{'complete':>8} {'pruned':>7} {'wall s':>7}  pruned arm reaches this HV@E after"
            )
            k = "hv_log_" if log else "hv_"
            for arm, a in figures["arms"].items():
                reach = figures["pruned_reaches"].get(f"{arm}{' (log cost)' if log else ''}")
                text = ""
                if reach:
                    epochs = math.inf if reach["epochs"] is None else reach["epochs"]
                    text = f"{fmt_epochs(epochs, budget)}, {reach['seeds_reached']}/{n} seeds"
                print(
                    f"{arm:<16} {a[k + 'quarter']:8.4f} {a[k + 'half']:8.4f} "
                    f"{a[k + 'final']:8.4f} {a['trials']:7.0f} "
                    f"{a['complete']:8.0f} {a['pruned']:7.0f} {a['wall_s']:7.1f}  {text}"
                )
        rungs = figures["rungs_on_unpruned_trials"]
        if rungs:
            print(
                "rungs, on the unpruned arm's full trials: "
                + "; ".join(
                    (
                        f"epoch {r}: front kept {v['front_kept_in_top_third']:.2f}, rho "
                        f"{v['spearman_rho']:.2f}"
                    )
                    for r, v in rungs.items()
                )
            )


if __name__ == "__main__":
    sys.exit(main())
