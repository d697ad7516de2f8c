"""A study of N trials, as ``automl run`` leaves it, built quickly in every storage kind.

Used by ``bench_status.py``. The study is created by :func:`automl.search.open_study` (so it
carries ``automl:spec`` and ``automl:uid``), then N trials are added, shaped like the trials
automl's workers write (``runner/execute.py``): four parameters (lr log-float, width log-int,
dropout float, optimizer categorical), ``host``/``slot``/``pid``, one intermediate value per
epoch (10 epochs when complete, fewer when pruned or failed), the training facts of
``TrialResult.user_attrs`` (fold scores and curves of 3 folds, train loss, gradient health,
...), ``prune_reason``/``pruned_at_epoch`` or ``fail_reason`` (one of five, a traceback for
half), then the state. Mix: about 80% COMPLETE, 15% PRUNED, 5% FAIL; the last 8 trials RUNNING
(in flight, parallelism 8) and two stale RUNNING trials at 1/3 and 1/2 of the study.

- journal file: the log lines are written directly, in Optuna's format (one op per line, as
  ``JournalStorage`` and ``automl.search.batch`` write them), with the trials of each block
  of 8 interleaved as parallel workers interleave them; about 4.5 kB per trial.
- Redis journal: the same operations as keys ``:log:<i>``, plus the snapshot that Optuna's
  ``JournalStorage`` saves at every 100th trial it creates (the last one, as a coordinator
  would have left it), made by replaying the log with Optuna's own replay.
- SQLite, PostgreSQL: rows inserted in bulk into Optuna's tables (:func:`insert_trials`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

SPEC_YAML = """\
name: {name}
storage: "{url}"
objective: {{metric: accuracy}}
data: {{source: "sklearn:digits", cv: {{folds: 3, seed: 0}}}}
trainer: {{epochs: 10}}
space:
  lr: {{low: 1.0e-4, high: 1.0e-1, log: true}}
  width: {{low: 16, high: 256, log: true}}
  dropout: {{low: 0.0, high: 0.5}}
  optimizer: {{choices: [adam, adamw, sgd]}}
search:
  sampler: {{type: random, seed: 0}}
  n_trials: {n}
execution: {{parallelism: 8}}
"""
PARALLEL = 8
EPOCHS = 10
REASONS = [
    "CUDA out of memory (tried to allocate 2.00 GiB)",
    "the score is nan",
    "worker lost: no lease renewed for 30 s",
    "ValueError: Input contains NaN",
    "timed out after 600 s",
]


def open_bench_study(name: str, url: str, n: int) -> Any:
    """The study, created as ``automl run`` creates it."""
    from automl.search import open_study, quiet_optuna
    from automl.studyfile import parse_spec

    quiet_optuna()
    return open_study(parse_spec(SPEC_YAML.format(name=name, url=url, n=n)), url)


def distributions() -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution as C
    from optuna.distributions import FloatDistribution as F
    from optuna.distributions import IntDistribution as I  # noqa: E741

    return {"lr": F(1e-4, 1e-1, log=True), "width": I(16, 256, log=True), "dropout": F(0.0, 0.5),
            "optimizer": C(["adam", "adamw", "sgd"])}  # fmt: skip


def _r(x: float) -> float:
    return round(x, 5)


def trials(n: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Every trial as plain data: state, value, params, user attrs in the order written,
    intermediate values, start and end times."""
    rng = random.Random(seed)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    stale = {n // 3, n // 2}
    for i in range(n):
        u = rng.random()
        running = i >= n - PARALLEL or i in stale
        state = (
            "RUNNING" if running else "COMPLETE" if u < 0.80 else "PRUNED" if u < 0.95 else "FAIL"
        )
        epochs = {"COMPLETE": EPOCHS, "PRUNED": rng.randint(3, 6), "FAIL": rng.randint(0, 3),
                  "RUNNING": rng.randint(0, 9)}[state]  # fmt: skip
        quality = rng.random()
        curve = [_r(0.5 + 0.45 * quality * (1 - 0.7 ** (e + 1))) for e in range(epochs)]
        attrs: dict[str, Any] = {
            "host": f"gpu-{i % 4}",
            "slot": f"cuda:{i % 2}",
            "pid": 4000 + i % PARALLEL,
        }
        if state in ("COMPLETE", "PRUNED"):
            folds = [[_r(c + rng.uniform(-0.02, 0.02)) for c in curve] for _ in range(3)]
            best = max(range(epochs), key=lambda e: curve[e]) + 1
            attrs |= {
                "fold_scores": [f[best - 1] for f in folds], "best_epoch": best,
                "epochs_run": epochs,
                "curve": curve, "fold_curves": folds,
                "train_loss": [_r(2.0 * 0.6 ** e + 0.01) for e in range(epochs)],
                "health": {"groups": ["layers.0.linear", "out"],
                           "grad_norm": [[_r(rng.random()), _r(rng.random())]
                                         for _ in range(epochs)]},
                "warnings": [], "train_path": "stacked", "device": "cuda:0", "precision": "bf16",
                "duration_s": round(rng.uniform(20, 90), 2),
            }  # fmt: skip
            if state == "PRUNED":
                attrs |= {"prune_reason": "pruned by the pruner", "pruned_at_epoch": epochs}
        elif state == "FAIL":
            attrs["fail_reason"] = REASONS[i % len(REASONS)]
            if i % 2:
                attrs["traceback"] = (
                    'Traceback (most recent call last):\n  File "x.py", line 1\n' * 8
                )
        elif epochs:
            attrs["checkpoint_epoch"] = epochs
        if state != "RUNNING":
            attrs |= {"duration_s": round(rng.uniform(20, 90), 3), "resumed_from_epoch": 0}
        start = t0 + timedelta(seconds=6 * i)
        if running:
            start = datetime.now(timezone.utc) - timedelta(seconds=60 + 10 * (i % PARALLEL))
        value = curve[-1] if state in ("COMPLETE", "PRUNED") and curve else None
        params = {"lr": 10 ** rng.uniform(-4, -1), "width": int(round(2 ** rng.uniform(4, 8))),
                  "dropout": rng.uniform(0, 0.5),
                  "optimizer": rng.choice(["adam", "adamw", "sgd"])}  # fmt: skip
        yield {"number": i, "state": state, "value": value, "params": params, "attrs": attrs,
               "steps": dict(enumerate(curve, start=1)), "start": start,
               "end": None if running else start + timedelta(seconds=30)}  # fmt: skip


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="microseconds")


STATES = {"RUNNING": 0, "COMPLETE": 1, "PRUNED": 2, "FAIL": 3}


def journal_ops(n: int, first_trial_id: int = 0) -> Iterator[dict[str, Any]]:
    """The journal operations that add the trials, in the order parallel workers write them."""
    from optuna.distributions import distribution_to_json

    dists = distributions()
    dist_json = {k: distribution_to_json(d) for k, d in dists.items()}
    coord = "3c1f9f46-d61a-40a3-9e2a-1e400fa568a8-140128718470016"
    workers = [f"{k:08x}-a471-4fd7-8a93-36e29faa400a-1405075713094{k}" for k in range(PARALLEL)]
    block: list[dict[str, Any]] = []
    for t in trials(n):
        block.append(t)
        if len(block) < PARALLEL and t["number"] < n - 1:
            continue
        bodies = []
        for k, tr in enumerate(block):
            tid = first_trial_id + tr["number"]
            yield {
                "op_code": 4,
                "worker_id": coord,
                "study_id": 0,
                "datetime_start": _iso(tr["start"]),
            }
            for name, v in tr["params"].items():
                yield {"op_code": 5, "worker_id": coord, "trial_id": tid, "param_name": name,
                       "param_value_internal": dists[name].to_internal_repr(v),
                       "distribution": dist_json[name]}  # fmt: skip
            bodies.append(list(_body(tr, tid, workers[k])))
        for i in range(max(len(b) for b in bodies)):
            for body in bodies:
                if i < len(body):
                    yield body[i]
        block = []


def _body(tr: dict[str, Any], tid: int, worker: str) -> Iterator[dict[str, Any]]:
    attrs = dict(tr["attrs"])
    for key in ("host", "slot", "pid"):
        yield {
            "op_code": 8,
            "worker_id": worker,
            "trial_id": tid,
            "user_attr": {key: attrs.pop(key)},
        }
    for step, v in tr["steps"].items():
        yield {
            "op_code": 7,
            "worker_id": worker,
            "trial_id": tid,
            "step": step,
            "intermediate_value": v,
        }
    for key, v in attrs.items():
        yield {"op_code": 8, "worker_id": worker, "trial_id": tid, "user_attr": {key: v}}
    if tr["state"] != "RUNNING":
        values = None if tr["value"] is None else [tr["value"]]
        yield {"op_code": 6, "worker_id": worker, "trial_id": tid, "state": STATES[tr["state"]],
               "values": values, "datetime_complete": _iso(tr["end"])}  # fmt: skip


def journal_lines(header: list[str], n: int) -> Iterator[str]:
    """Lines of a journal file: ``header`` (the lines ``open_study`` wrote), then the trials."""
    yield from header
    for op in journal_ops(n):
        yield json.dumps(op, separators=(",", ":"))


def insert_trials(url: str, study_id: int, n: int) -> None:
    """Add the trials straight into Optuna's tables, 5,000 to a transaction, with the values
    encoded as ``RDBStorage`` encodes them (its own ``add_trials`` takes minutes per thousand
    trials: a count of the study's trials and a query per attribute, each trial its own
    transaction). Uses Optuna's table models (not public API): for this fixture only."""
    import sqlalchemy as sa
    from optuna.distributions import distribution_to_json
    from optuna.storages._rdb import models
    from optuna.trial import TrialState

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    dists = distributions()
    dist_json = {k: distribution_to_json(d) for k, d in dists.items()}
    tables = {k: getattr(models, k).__table__ for k in (
        "TrialModel", "TrialParamModel", "TrialValueModel", "TrialIntermediateValueModel",
        "TrialUserAttributeModel")}  # fmt: skip
    value_repr = models.TrialValueModel.value_to_stored_repr
    step_repr = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr
    with engine.begin() as conn:
        trial_table = tables["TrialModel"]
        first = (
            conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(trial_table.c.trial_id), 0))
            ).scalar_one()
            + 1
        )
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in tables}
    for tr in trials(n):
        tid = first + tr["number"]
        end = tr["end"].astimezone(timezone.utc).replace(tzinfo=None) if tr["end"] else None
        start = tr["start"].astimezone(timezone.utc).replace(tzinfo=None)
        rows["TrialModel"].append({
            "trial_id": tid, "number": tr["number"], "study_id": study_id,
            "state": TrialState[tr["state"]], "datetime_start": start, "datetime_complete": end,
        })  # fmt: skip
        rows["TrialParamModel"] += [
            {"trial_id": tid, "param_name": k, "param_value": dists[k].to_internal_repr(v),
             "distribution_json": dist_json[k]} for k, v in tr["params"].items()]  # fmt: skip
        if tr["value"] is not None and tr["state"] != "FAIL":
            value, kind = value_repr(tr["value"])
            rows["TrialValueModel"].append(
                {"trial_id": tid, "objective": 0, "value": value, "value_type": kind})  # fmt: skip
        for step, v in tr["steps"].items():
            value, kind = step_repr(v)
            rows["TrialIntermediateValueModel"].append(
                {"trial_id": tid, "step": step, "intermediate_value": value,
                 "intermediate_value_type": kind})  # fmt: skip
        rows["TrialUserAttributeModel"] += [
            {"trial_id": tid, "key": k, "value_json": json.dumps(v)} for k, v in tr["attrs"].items()
        ]
        if len(rows["TrialModel"]) == 5000 or tr["number"] == n - 1:
            with engine.begin() as conn:
                for name, table in tables.items():
                    if rows[name]:
                        conn.execute(sa.insert(table), rows[name])
            rows = {k: [] for k in tables}
    if engine.dialect.name == "postgresql":  # the ids were given: move the sequence past them
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('trials', 'trial_id'), "
                                 "(SELECT max(trial_id) FROM trials))"))  # fmt: skip
    engine.dispose()
