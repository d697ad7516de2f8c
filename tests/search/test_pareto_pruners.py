"""The pruners of studies with several objectives decide by Pareto rank at each rung or step."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState, create_trial

from automl.errors import SpecError
from automl.search import study_pruner
from automl.search.pareto_pruners import (
    ParetoHyperband,
    ParetoPercentile,
    ParetoRanking,
    ParetoSuccessiveHalving,
)
from automl.search.vectors import epoch_vectors_of
from automl.studyfile import parse_spec
from automl.studyfile.schema import Bound
from automl.trial_attrs import INTERMEDIATE_VALUES

RANKING = ParetoRanking(["accuracy", "params"], [True, False], {})


def _study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(directions=["maximize", "minimize"])


def _add(
    study: optuna.Study,
    curve: dict[int, tuple[float, float]],
    state: TrialState = TrialState.COMPLETE,
) -> FrozenTrial:
    steps = {str(s): {"accuracy": a, "params": p} for s, (a, p) in curve.items()}
    last = curve[max(curve)] if curve else None
    values = list(last) if state == TrialState.COMPLETE and last else None
    study.add_trial(
        create_trial(state=state, values=values, user_attrs={INTERMEDIATE_VALUES: steps})
    )
    return study.trials[-1]


def _at(trial: FrozenTrial, curve: dict[int, tuple[float, float]]) -> FrozenTrial:
    """The trial as its worker sees it after reporting ``curve``."""
    trial.user_attrs = {
        INTERMEDIATE_VALUES: {str(s): {"accuracy": a, "params": p} for s, (a, p) in curve.items()}
    }
    return trial


def test_halving_keeps_the_top_third_by_fronts_at_the_rung() -> None:
    study = _study()
    pruner = ParetoSuccessiveHalving(RANKING, min_resource=1, reduction_factor=3)
    # Five trials reached rung 0 (step 1): a front of two, then three behind it.
    for vec in [(0.9, 100), (0.8, 10), (0.7, 200), (0.6, 300), (0.5, 400)]:
        _add(study, {1: vec})
    running = _add(study, {}, TrialState.RUNNING)
    # Six competitors -> keep 2: the front. A dominated vector is pruned ...
    assert pruner.prune(study, _at(running, {1: (0.85, 150)}))
    # ... and one that joins the front is kept (it ties the front's extremes in crowding).
    assert not pruner.prune(study, _at(running, {1: (0.95, 500)}))
    assert not pruner.prune(study, _at(running, {1: (0.99, 5)}))


def test_a_rung_is_judged_once_when_first_reached() -> None:
    study = _study()
    pruner = ParetoSuccessiveHalving(RANKING, min_resource=1, reduction_factor=3)
    for vec in [(0.9, 10), (0.9, 10), (0.9, 10)]:
        _add(study, {1: vec})
    running = _add(study, {}, TrialState.RUNNING)
    # At step 2 (no rung at 2: rungs are 1, 3, 9) the bad value at step 1 is not judged again.
    assert not pruner.prune(study, _at(running, {1: (0.1, 99), 2: (0.1, 99)}))
    assert pruner.prune(study, _at(running, {1: (0.1, 99)}))


def test_nan_is_pruned_and_equal_vectors_share_a_fate() -> None:
    study = _study()
    pruner = ParetoSuccessiveHalving(RANKING, min_resource=1, reduction_factor=2)
    for _ in range(4):
        _add(study, {1: (0.5, 10)})
    running = _add(study, {}, TrialState.RUNNING)
    assert not pruner.prune(study, _at(running, {1: (0.5, 10)}))
    assert pruner.prune(study, _at(running, {1: (float("nan"), 10)}))


def test_a_broken_constraint_ranks_behind_every_kept_one() -> None:
    study = _study()
    ranking = ParetoRanking(["accuracy", "params"], [True, False], {"params": Bound(max=50)})
    pruner = ParetoSuccessiveHalving(ranking, min_resource=1, reduction_factor=2)
    _add(study, {1: (0.5, 40)})
    running = _add(study, {}, TrialState.RUNNING)
    # Better accuracy, but over the params limit: behind the feasible one, so out of the top 1.
    assert pruner.prune(study, _at(running, {1: (0.99, 60)}))
    assert not RANKING.violation({"accuracy": 0.99, "params": 60})
    assert ranking.violation({"accuracy": 0.99, "params": 60}) == 10


def _running_in(
    study: optuna.Study, pruner: ParetoHyperband, bracket: int, budgets: list[int]
) -> FrozenTrial:
    """A new running trial of ``study`` that Hyperband puts in ``bracket`` (others are failed)."""
    while True:
        trial = _add(study, {}, TrialState.RUNNING)
        if pruner.bracket_of(study.study_name, trial.number, budgets) == bracket:
            return trial
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)  # noqa: SLF001


def _fill_brackets(
    study: optuna.Study,
    pruner: ParetoHyperband,
    budgets: list[int],
    curve: dict[int, tuple[float, float]],
    brackets: int,
) -> None:
    """Complete trials with ``curve`` until each of the first ``brackets`` brackets holds five:
    a bracket's trials are drawn by a hash of the study's random name, so a fixed count of
    trials would now and then leave one empty (and a lone trial at a rung is never pruned)."""
    seen = [0] * len(budgets)
    while min(seen[:brackets]) < 5:
        trial = _add(study, curve)
        seen[pruner.bracket_of(study.study_name, trial.number, budgets)] += 1


def test_hyperband_judges_within_the_trial_bracket() -> None:
    study = _study()
    pruner = ParetoHyperband(RANKING, min_resource=1, max_resource=27, reduction_factor=3)
    budgets = pruner.brackets(27)
    assert len(budgets) == 4  # floor(log3(27)) + 1
    _fill_brackets(study, pruner, budgets, {1: (0.9, 1), 3: (0.9, 1), 9: (0.9, 1), 27: (0.9, 1)}, 3)
    for bracket in range(3):
        running = _running_in(study, pruner, bracket, budgets)
        first_rung = 3**bracket  # bracket b starts halving at min_resource * eta**b
        bad = {s: (0.1, 50.0) for s in range(1, first_rung + 1)}
        assert pruner.prune(study, _at(running, bad))
        assert not pruner.prune(study, _at(running, {s: (0.1, 50.0) for s in range(1, first_rung)}))


@pytest.mark.parametrize("bracket", [0, 1, 2])
def test_hyperband_never_prunes_at_the_full_budget(bracket: int) -> None:
    # Epochs count from 1, so with 9 epochs every bracket has a rung at 9, the last epoch:
    # judging there would throw away a trial that has finished (Optuna, counting from 0, never
    # reaches it). The last bracket, whose only rung is 9, trains every trial in full.
    study = _study()
    pruner = ParetoHyperband(RANKING, min_resource=1, max_resource=9, reduction_factor=3)
    budgets = pruner.brackets(9)
    assert len(budgets) == 3
    _fill_brackets(study, pruner, budgets, {1: (0.9, 1), 3: (0.9, 1), 9: (0.9, 1)}, 3)
    running = _running_in(study, pruner, bracket, budgets)
    bad = {s: (0.1, 50.0) for s in range(1, 10)}
    assert not pruner.prune(study, _at(running, bad))  # judged at step 9 only: no rung there
    if bracket < 2:
        assert pruner.prune(study, _at(running, {s: bad[s] for s in range(1, 3**bracket + 1)}))


def test_hyperband_with_auto_max_waits_for_a_complete_trial() -> None:
    study = _study()
    pruner = ParetoHyperband(RANKING, min_resource=1, reduction_factor=3)
    running = _add(study, {}, TrialState.RUNNING)
    assert not pruner.prune(study, _at(running, {1: (0.0, 1e9)}))


def test_median_prunes_a_trial_ranked_below_the_median() -> None:
    study = _study()
    pruner = ParetoPercentile(RANKING, 50.0, n_startup_trials=3)
    for vec in [(0.9, 10), (0.8, 20), (0.7, 30), (0.6, 40)]:  # ranks 0, 1, 2, 3 at step 2
        _add(study, {2: vec})
    running = _add(study, {}, TrialState.RUNNING)
    assert pruner.prune(study, _at(running, {2: (0.65, 35)}))  # rank 3 of 5 > median 1.5
    assert not pruner.prune(study, _at(running, {2: (0.95, 25)}))  # on the front
    assert not pruner.prune(study, _at(running, {1: (0.0, 99)}))  # no one to compare at step 1


def test_a_malformed_attribute_is_no_steps_and_never_prunes() -> None:
    bad = {"x": {}, "2": {"a": 1}, "3": 5}  # anyone who can write to the storage can write this
    trial = create_trial(state=TrialState.RUNNING, user_attrs={INTERMEDIATE_VALUES: bad})
    assert epoch_vectors_of(trial) == {}
    study = _study()
    _add(study, {1: (0.9, 1)})
    assert not ParetoSuccessiveHalving(RANKING, min_resource=1).prune(study, trial)


BASE = """
name: s
data: {source: "sklearn:iris"}
objective: [{metric: accuracy}, {metric: params}]
trainer: {epochs: 9}
"""


@pytest.mark.parametrize(
    ("pruner", "cls"),
    [
        ("{type: hyperband}", ParetoHyperband),
        ("{type: successive_halving}", ParetoSuccessiveHalving),
        ("{type: median}", ParetoPercentile),
        ("{type: percentile, percentile: 25}", ParetoPercentile),
        ("{type: none}", optuna.pruners.NopPruner),
    ],
)
def test_the_study_file_picks_a_pareto_pruner(pruner: str, cls: type) -> None:
    spec = parse_spec(BASE + f"search: {{pruner: {pruner}}}\n")
    assert isinstance(study_pruner(spec), cls)


def test_hyperband_takes_the_epochs_as_its_largest_budget() -> None:
    built = study_pruner(
        parse_spec(BASE + "search: {pruner: {type: hyperband, min_resource: 1}}\n")
    )
    assert isinstance(built, ParetoHyperband) and built.max_resource == 9


@pytest.mark.parametrize(
    ("search", "path"),
    [
        ("{pruner: {type: wilcoxon}}", "search.pruner"),
        ("{pruner: {type: patient, patience: 2}}", "search.pruner"),
        ("{pruner: {type: threshold, lower: 0.1}}", "search.pruner"),
        ("{sampler: {type: cmaes}}", "search.sampler"),
        ("{pruner: {type: hyperband, eta: 3}}", "search.pruner.eta"),
        ("{pruner: {type: percentile}}", "search.pruner.percentile"),
        ("{pruner: {type: successive_halving, reduction_factor: 1}}", "search.pruner"),
    ],
)
def test_what_cannot_serve_several_objectives_names_the_field(search: str, path: str) -> None:
    with pytest.raises(SpecError) as err:
        study_pruner(parse_spec(BASE + f"search: {search}\n"))
    assert err.value.path == path, err.value.one_line()
