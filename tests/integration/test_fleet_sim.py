"""The simulated fleet of ``benchmarks/bench_fleet_sim.py`` at a small size: 20 virtual
workers in 2 processes speak the real worker protocol to the real coordinator, on the
machine's PostgreSQL and on the journal on its Redis. It checks behaviour, not speed: the
budget is exact, every trial is COMPLETE once, each trial's function ran exactly once, and the
summary (the last line) carries its figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import optuna
import pytest

from automl.search import make_storage

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WORKERS, TRIALS = 20, 60
KEYS = ("trials_per_s", "coordinator_cpu_ms_per_trial", "p99_next_trial_ms")


def simulate(tmp_path: Path, storage: str, storage_url: str, broker_url: str) -> dict:
    out = tmp_path / "result.json"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "bench_fleet_sim.py"),
        "--workers",
        str(WORKERS),
        "--threads-per-process",
        str(WORKERS // 2),
        "--trials",
        str(TRIALS),
        "--epochs",
        "3",
        "--epoch-s",
        "0.05",
        "--side",
        "automl",
        "--storage",
        storage,
        "--storage-url",
        storage_url,
        "--broker-url",
        broker_url,
        "--sample-s",
        "0.2",
        "--timeout-s",
        "120",
        "--keep-records",
        "--logs",
        str(tmp_path / "logs"),
        "--out",
        str(out),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=240, cwd=ROOT, env=dict(os.environ)
    )
    assert done.returncode == 0, (
        f"the simulator failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    for key in KEYS:
        assert isinstance(summary[key], (int, float)), f"{key} is {summary[key]!r} in {summary}"
    return {"summary": summary, "full": json.loads(out.read_text()), "logs": tmp_path / "logs"}


@pytest.mark.parametrize("storage", ["postgresql", "journal-redis"])
def test_the_simulated_fleet_trains_every_trial_once_to_the_exact_budget(
    tmp_path: Path, storage: str, broker_url: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(
        "postgres_url" if storage == "postgresql" else "journal_redis_url"
    )
    result = simulate(tmp_path, storage, url, broker_url)
    summary, (run,) = result["summary"], result["full"]["all_runs"]
    assert summary["all_budgets_exact"] and summary["trained_twice"] == []
    assert run["exit_code"] == 0 and run["errors_count"] == 0, run["errors"]
    assert run["deliveries"] == {"COMPLETE": TRIALS}, "every message delivered once and trained"

    # The storage, read here: exactly the budget, every trial COMPLETE, each number once.
    study = optuna.load_study(study_name=run["study"], storage=make_storage(url, cached=False))
    trials = study.get_trials(deepcopy=False)
    assert sorted(t.number for t in trials) == list(range(TRIALS))
    assert Counter(t.state.name for t in trials) == {"COMPLETE": TRIALS}
    assert all(sorted(t.intermediate_values) == [1, 2, 3] for t in trials), "a report per epoch"
    slots = Counter(t.user_attrs["slot"] for t in trials)
    assert len(slots) > 1 and all(s.startswith("sim") for s in slots), "trained on many slots"

    # The function of every trial ran exactly once, on the slot the trial records.
    (records,) = result["logs"].glob("*/records.json")
    calls = json.loads(records.read_text())["calls"]
    assert Counter(int(c[1]) for c in calls) == Counter(range(TRIALS))
    assert all(c[3] is not None for c in calls), "every call returned"
    slot_of = {t.number: t.user_attrs["slot"] for t in trials}
    assert all(slot_of[int(c[1])] == c[0] for c in calls)
