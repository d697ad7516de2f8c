"""The journal file read for ``automl status`` (search/journal_counts.py, journal_trials.py):
the same trials as Optuna's own replay, and guards on what of Optuna's journal they mirror
(checked: Optuna 5.1.0).

If a test here fails after an Optuna upgrade, the journal format or a replay rule changed:
read optuna/storages/journal/_storage.py of the new release and update those two modules.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

import automl.search.journal_counts as jc
import automl.search.journal_trials as jt
import automl.search.status_read as status_read
import automl.search.storage as storage_module
from automl.errors import StorageError, UsageError
from automl.report.summary import status_info
from automl.search import open_study
from automl.search.study import load_study
from automl.studyfile import StudySpec
from tests.report.pareto_study import FRONT, pareto_study
from tests.search.status_study import build_study, fresh_storage, plain_facts


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each read opens the storage anew, as ``automl status`` does in its own process."""
    monkeypatch.setattr(storage_module, "_cache", {})


def _no_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("status replayed the journal with Optuna")

    monkeypatch.setattr(status_read, "load_study", refuse)


def test_guard_the_op_codes_are_optunas() -> None:
    from optuna.storages.journal._storage import JournalOperation

    mirrored = {name: getattr(jc, name) for name in JournalOperation.__members__}
    assert mirrored == {op.name: op.value for op in JournalOperation}


def test_guard_optuna_writes_lines_of_the_shape_read(tmp_path: Path) -> None:
    path = tmp_path / "plain.log"
    study = optuna.create_study(
        storage=JournalStorage(JournalFileBackend(str(path))), study_name="s"
    )
    trial = study.ask()
    trial.suggest_float("lr", 0.1, 1.0)
    trial.report(0.5, 1)
    trial.set_user_attr("fail_reason", "boom")
    study._storage.set_trial_system_attr(trial._trial_id, "constraints", [0.0])
    study.tell(trial, state=TrialState.FAIL)
    lines = path.read_bytes().splitlines()
    assert all(re.match(rb'\{"op_code":(\d|10),"worker_id":"[^"]*",', line) for line in lines), (
        lines
    )
    by_op = {json.loads(line)["op_code"]: line for line in lines}
    for op in (jc.SET_TRIAL_PARAM, jc.SET_TRIAL_STATE_VALUES, jc.SET_TRIAL_INTERMEDIATE_VALUE,
               jc.SET_TRIAL_USER_ATTR, jc.SET_TRIAL_SYSTEM_ATTR):  # fmt: skip
        assert re.match(rb'\{"op_code":\d,"worker_id":"[^"]*","trial_id":0,', by_op[op]), by_op[op]
    assert jt.FAIL_REASON_LINE in by_op[jc.SET_TRIAL_USER_ATTR]
    assert b'"param_name":"lr",' in by_op[jc.SET_TRIAL_PARAM]


def test_guard_compatible_distributions_form_classes() -> None:
    """journal_counts decides a param by the first one the study applied; that is right only
    while Optuna's compatibility is an equivalence."""
    dists = [
        FloatDistribution(0, 1), FloatDistribution(0, 2), FloatDistribution(0.1, 1, log=True),
        FloatDistribution(0, 1, step=0.5), IntDistribution(0, 5), IntDistribution(1, 5, log=True),
        IntDistribution(0, 9, step=3), CategoricalDistribution(["a", "b"]),
        CategoricalDistribution(["a", "b", "c"]), CategoricalDistribution(["a", "b"]),
    ]  # fmt: skip
    ok = jt._compatible
    for a, b, c in itertools.product(dists, repeat=3):
        assert ok(a, a) and ok(a, b) == ok(b, a)
        assert not (ok(a, b) and ok(b, c)) or ok(a, c)


def test_every_trial_is_read_as_optuna_replays_it(
    make_spec: Callable[..., StudySpec], journal_url: str
) -> None:
    spec = make_spec(journal_url)
    build_study(open_study(spec, journal_url))
    log = jc.read_journal(journal_url)
    assert log is not None
    fresh = fresh_storage(journal_url)
    for study in fresh.get_all_studies():
        sid = log.find(study.study_name)
        assert sid is not None and log.studies[sid].user_attrs == study.user_attrs
        trials = jt.JournalTrials(log).trials(log.studies[sid].trial_ids)
        assert trials == fresh.get_all_trials(study._study_id)
    rejected = jt.JournalTrials(log).trials([log.studies[log.find(spec.name)].trial_ids[11]])[0]
    # Optuna refused it
    assert rejected.state == TrialState.RUNNING and "width" not in rejected.params


def test_status_on_a_journal_file_shows_what_optuna_reads(
    make_spec: Callable[..., StudySpec], journal_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_spec(journal_url)
    build_study(open_study(spec, journal_url))
    _no_replay(monkeypatch)
    fast = status_info(status_read.read_status(journal_url, spec.name), 0.0)
    assert fast == status_info(plain_facts(journal_url, spec.name), 0.0)
    assert fast["best"]["number"] == 2 and fast["failure_reasons"] == {
        "out of memory": 2,
        "unknown": 2,
    }
    assert [r["number"] for r in fast["running"]] == [9, 11] and fast["counts"]["waiting"] == 1


def test_the_pareto_front_of_a_journal_file_is_optunas(
    journal_url: str, study_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pareto_study(study_name, journal_url)
    _no_replay(monkeypatch)
    fast = status_info(status_read.read_status(journal_url, study_name), 0.0)
    assert fast == status_info(plain_facts(journal_url, study_name), 0.0)
    assert [t["number"] for t in fast["front"]] == FRONT


def test_a_line_of_another_shape_sends_status_to_optuna(
    make_spec: Callable[..., StudySpec], journal_url: str
) -> None:
    spec = make_spec(journal_url)
    build_study(open_study(spec, journal_url))
    fresh = fresh_storage(journal_url)
    tid = fresh.get_trial_id_from_study_id_trial_number(fresh.get_study_id_from_name(spec.name), 9)
    with open(journal_url, "a") as f:  # JSON with spaces, as Optuna's Redis backend writes it
        f.write(
            json.dumps(
                {
                    "op_code": 8,
                    "worker_id": "w",
                    "trial_id": tid,
                    "user_attr": {"host": "elsewhere"},
                }
            )
            + "\n"
        )
    assert jc.read_journal(journal_url) is None
    info = status_info(status_read.read_status(journal_url, spec.name), 0.0)
    assert info == status_info(plain_facts(journal_url, spec.name), 0.0)
    assert info["running"][0]["host"] == "elsewhere"


def test_a_last_line_still_being_written_is_left_out(
    make_spec: Callable[..., StudySpec], journal_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_spec(journal_url)
    build_study(open_study(spec, journal_url))
    with open(journal_url, "a") as f:
        f.write(
            '{"op_code":6,"worker_id":"w","trial_id":9,"state":1,"values":[0.99],"datetime_comp'
        )
    _no_replay(monkeypatch)
    info = status_info(status_read.read_status(journal_url, spec.name), 0.0)
    assert info == status_info(plain_facts(journal_url, spec.name), 0.0)


def test_errors_are_those_of_load_study(
    make_spec: Callable[..., StudySpec], journal_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_spec(journal_url)
    open_study(spec, journal_url)
    optuna.create_study(storage=fresh_storage(journal_url), study_name="plain-optuna")
    for name, error in (("nope", UsageError), ("plain-optuna", StorageError)):
        with pytest.raises(error) as slow:
            load_study(journal_url, name)
        with pytest.raises(error) as fast:
            status_read.journal_status(journal_url, name)
        assert str(fast.value) == str(slow.value)


def test_a_missing_or_empty_file_is_left_to_optuna(tmp_path: Path) -> None:
    assert jc.read_journal(str(tmp_path / "none.log")) is None
    (tmp_path / "empty.log").write_bytes(b"")
    assert jc.read_journal(str(tmp_path / "empty.log")) is None
