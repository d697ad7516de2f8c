"""A two-objective study (accuracy up, params down, params at most 5000) built straight in
Optuna, with the attributes a worker leaves: for the report, status and tracker tests.

    #0 complete (0.90, 3000)  feasible, on the front
    #1 complete (0.80, 1000)  feasible, on the front
    #2 complete (0.70, 2000)  feasible, dominated by #1
    #3 complete (0.95, 8000)  infeasible (params.max 3000 > 0)
    #4 pruned, last vector (0.40, 4000) in ``metrics``
    #5 pruned, last vector (0.35, 4500) only in ``intermediate_values``
    #6 failed: out of memory
    #7 running

Reference point of the hypervolume (feasible complete trials #0-#2): accuracy 0.7 - 10% of
0.2 = 0.68, params 3000 + 10% of 2000 = 3200. After #0: (0.90 - 0.68) x (3200 - 3000) = 44;
after #1 add (0.80 - 0.68) x (3200 - 1000) = 264 less their overlap 0.12 x 200 = 24: 284;
#2 and #3 change nothing.
"""

from __future__ import annotations

import optuna
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from automl.search import open_study
from automl.studyfile import StudySpec, parse_spec

PARETO_YAML = """
name: {name}
storage: {storage}
objective: [{{metric: accuracy}}, {{metric: params}}]
constraints: {{params: {{max: 5000}}}}
data: {{source: sklearn:digits, cv: {{folds: 2}}}}
trainer: {{epochs: 3}}
space:
  lr: {{low: 1.0e-3, high: 1.0e-1, log: true}}
  width: {{low: 8, high: 64}}
search: {{n_trials: 8, sampler: {{type: nsga2, seed: 0}}, pruner: {{type: none}}}}
"""

HYPERVOLUMES = [44.0, 284.0, 284.0, 284.0]
REFERENCE = [0.68, 3200.0]
FRONT = [0, 1]  # best first on accuracy
_DISTS = {"lr": FloatDistribution(1e-3, 1e-1, log=True), "width": IntDistribution(8, 64)}


def pareto_spec(name: str, storage: str, extra: str = "") -> StudySpec:
    return parse_spec(PARETO_YAML.format(name=name, storage=storage) + extra)


def _steps(*vectors: tuple[float, float]) -> dict[str, dict[str, float]]:
    return {str(i): {"accuracy": a, "params": p} for i, (a, p) in enumerate(vectors, start=1)}


def _complete(
    values: list[float], lr: float, width: int, curve: list[tuple[float, float]], **attrs: object
) -> optuna.trial.FrozenTrial:
    return create_trial(
        values=values,
        params={"lr": lr, "width": width},
        distributions=_DISTS,
        constraints={"params.max": values[1] - 5000},
        user_attrs={
            "intermediate_values": _steps(*curve),
            "metrics": {"accuracy": values[0], "params": values[1]},
            "best_epoch": len(curve),
            "host": "box",
            "slot": "cpu",
        }
        | attrs,
    )


def add_pareto_trials(study: optuna.Study) -> None:
    """The trials listed above, in that order (so they complete in that order)."""
    study.add_trial(
        _complete([0.9, 3000], 0.01, 30, [(0.5, 3000), (0.9, 3000)], fold_scores=[0.88, 0.92])
    )
    study.add_trial(
        _complete([0.8, 1000], 0.02, 10, [(0.6, 1000), (0.8, 1000)], fold_scores=[0.79, 0.81])
    )
    study.add_trial(_complete([0.7, 2000], 0.03, 20, [(0.7, 2000)]))
    study.add_trial(_complete([0.95, 8000], 0.04, 64, [(0.9, 8000), (0.95, 8000)]))
    study.add_trial(
        create_trial(
            state=TrialState.PRUNED,
            params={"lr": 0.05, "width": 40},
            distributions=_DISTS,
            user_attrs={
                "intermediate_values": _steps((0.3, 4000), (0.4, 4000)),
                "metrics": {"accuracy": 0.4, "params": 4000},
                "prune_reason": "pruned by the pruner",
                "pruned_at_epoch": 2,
            },
        )
    )
    study.add_trial(
        create_trial(
            state=TrialState.PRUNED,
            params={"lr": 0.06, "width": 45},
            distributions=_DISTS,
            user_attrs={
                "intermediate_values": _steps((0.2, 4500), (0.35, 4500)),
                "prune_reason": "pruned by the pruner",
            },
        )
    )
    study.add_trial(create_trial(
        state=TrialState.FAIL, params={"lr": 0.07, "width": 46}, distributions=_DISTS,
        user_attrs={"fail_reason": "out of memory"},
    ))  # fmt: skip
    study.ask(_DISTS).set_user_attr("host", "box")


def pareto_study(name: str, storage: str, extra: str = "") -> tuple[StudySpec, optuna.Study]:
    """The study above, created by automl (its study file stored on it) in ``storage``."""
    spec = pareto_spec(name, storage, extra)
    study = open_study(spec, storage)
    add_pareto_trials(study)
    return spec, study
