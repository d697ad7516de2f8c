"""What ``benchmarks/bench_fleet_sim.py`` measures, apart from running the fleet: CPU by
component over time (from ``/proc``), PostgreSQL statements and Redis commands (deltas of the
servers' own counters), and the figures computed from what the virtual workers recorded.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Commands this benchmark sends itself, left out of the counts.
OWN_REDIS_COMMANDS = {"info", "config|resetstat", "flushdb", "config|get"}


# -- CPU ------------------------------------------------------------------------------------


def proc_cpu_s(pid: int, children: bool = False) -> float | None:
    """User + system CPU seconds of a live process (and of its reaped children); None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def process_tree_cpu_s(root: int) -> float | None:
    """A server's CPU: its main process with its reaped children, plus its live children
    (PostgreSQL's backends, one per connection)."""
    total = proc_cpu_s(root, children=True)
    if total is None:
        return None
    try:
        children = Path(f"/proc/{root}/task/{root}/children").read_text().split()
    except OSError:  # a kernel without that file: look at every process
        children = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
        children = [c for c in children if _parent(c) == root]
    for child in children:
        total += proc_cpu_s(int(child)) or 0.0
    return total


def _parent(pid: str) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores, everyone's processes)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS  # less idle and iowait


class CpuSampler(threading.Thread):
    """Samples every ``every_s``: the CPU seconds of each component so far, with a timestamp.

    Components: named single processes (``add``), named process groups (``add_group``, their
    sum), named process trees (``add_tree``: a server and its children), ``machine`` (every
    busy core on the machine) and ``benchmark`` (this process, the sampler included).
    """

    def __init__(self, every_s: float = 0.5) -> None:
        super().__init__(name="cpu-sampler", daemon=True)
        self.every_s = every_s
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._single: dict[str, int] = {}
        self._groups: dict[str, list[int]] = {}
        self._trees: dict[str, int] = {}
        self._last: dict[str, float] = {}  # a process that exited keeps its last reading
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def add(self, name: str, pid: int) -> None:
        with self._lock:
            self._single[name] = pid

    def add_group(self, name: str, pids: list[int]) -> None:
        with self._lock:
            self._groups[name] = list(pids)

    def add_tree(self, name: str, root: int) -> None:
        with self._lock:
            self._trees[name] = root

    def sample(self) -> None:
        now: dict[str, float] = {}
        with self._lock:
            for name, pid in self._single.items():
                value = proc_cpu_s(pid)
                now[name] = value if value is not None else self._last.get(f"{name}", 0.0)
            for name, pids in self._groups.items():
                total = 0.0
                for pid in pids:
                    value = proc_cpu_s(pid)
                    key = f"{name}:{pid}"
                    if value is not None:
                        self._last[key] = value
                    total += self._last.get(key, 0.0)
                now[name] = total
            for name, root in self._trees.items():
                value = process_tree_cpu_s(root)
                now[name] = value if value is not None else self._last.get(name, 0.0)
        self._last.update({k: v for k, v in now.items()})
        own = os.times()
        now["benchmark"] = own.user + own.system
        now["machine"] = machine_busy_s()
        self.samples.append((time.time(), now))

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.every_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)
        self.sample()

    def at(self, t: float) -> dict[str, float]:
        """Each component's CPU seconds at time ``t``, interpolated between samples."""
        before = [s for s in self.samples if s[0] <= t]
        after = [s for s in self.samples if s[0] >= t]
        if not before or not after:
            edge = (before or after)[-1 if before else 0]
            return dict(edge[1])
        (t0, a), (t1, b) = before[-1], after[0]
        w = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
        return {k: a[k] + w * (b.get(k, a[k]) - a[k]) for k in a}


# -- PostgreSQL and Redis counters ----------------------------------------------------------


class PgCounter:
    """Statements run on one database: ``pg_stat_statements`` (every statement, BEGIN and
    COMMIT included) where the server has it loaded, else ``pg_stat_database`` (transactions
    and rows only)."""

    def __init__(self, admin_dsn: str, database: str) -> None:
        self.admin_dsn, self.database = admin_dsn, database
        self.source = "pg_stat_statements" if self._has_statements() else "pg_stat_database"

    def _query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            return list(conn.execute(sql, params).fetchall())

    def _has_statements(self) -> bool:
        try:
            self._query("SELECT 1 FROM pg_stat_statements LIMIT 1")
        except Exception:  # noqa: BLE001 - not loaded, or the extension is not created
            return False
        return True

    def snapshot(self) -> dict[str, Any]:
        db = self._query(
            "SELECT xact_commit + xact_rollback, tup_returned, tup_fetched, tup_inserted,"
            " tup_updated, tup_deleted FROM pg_stat_database WHERE datname = %s",
            self.database,
        )[0]
        snap: dict[str, Any] = dict(
            zip(
                (
                    "transactions",
                    "tup_returned",
                    "tup_fetched",
                    "tup_inserted",
                    "tup_updated",
                    "tup_deleted",
                ),
                (int(v) for v in db),
                strict=True,
            )
        )
        if self.source == "pg_stat_statements":
            rows = self._query(
                "SELECT s.queryid, s.query, s.calls FROM pg_stat_statements s"
                " JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s",
                self.database,
            )
            snap["statements"] = {str(qid): (query, int(calls)) for qid, query, calls in rows}
        return snap

    @staticmethod
    def delta(before: dict[str, Any], after: dict[str, Any], trials: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            f"{k}_per_trial": round((after[k] - before[k]) / trials, 2)
            for k in (
                "transactions",
                "tup_returned",
                "tup_fetched",
                "tup_inserted",
                "tup_updated",
                "tup_deleted",
            )
        }
        if "statements" in after:
            calls: Counter[str] = Counter()
            for qid, (query, n) in after["statements"].items():
                n -= before.get("statements", {}).get(qid, ("", 0))[1]
                if n > 0:
                    calls[" ".join(query.split())[:90]] += n
            total = sum(calls.values())
            control = sum(
                n for q, n in calls.items() if q.upper() in ("BEGIN", "COMMIT", "ROLLBACK")
            )
            out["statements_per_trial"] = round(total / trials, 2)
            out["statements_without_begin_commit_per_trial"] = round((total - control) / trials, 2)
            out["top_statements_per_trial"] = {
                q: round(n / trials, 2) for q, n in calls.most_common(25)
            }
        return out


def redis_commands(url: str) -> Counter[str]:
    """``INFO commandstats`` of the server at ``url``: calls by command."""
    import redis

    stats = redis.Redis.from_url(url).info("commandstats")
    return Counter({k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()})


def redis_delta(before: Counter[str], after: Counter[str], trials: int) -> dict[str, Any]:
    diff = Counter({k: after[k] - before.get(k, 0) for k in after if k not in OWN_REDIS_COMMANDS})
    diff = +diff  # positive counts only
    return {
        "commands_per_trial": round(sum(diff.values()) / trials, 2),
        "top_commands_per_trial": {k: round(n / trials, 2) for k, n in diff.most_common(10)},
    }


# -- figures from the records ---------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def steady_window(ends: list[float], workers: int, stopped: bool = False) -> tuple[int, int]:
    """Indexes (i0, i1) into the sorted trial ends that bound the steady part of a run: from
    the first wave's last end to the last wave's first end (when the run has at least three
    waves), else from 10% to 90% of the ends. A run stopped before its budget has no last
    wave: from the N-th end (at most a third of the ends) to the last end before the stop."""
    m = len(ends)
    if stopped:
        return max(0, min(workers, m // 3) - 1), m - 1
    if m >= 3 * workers:
        return workers - 1, m - workers - 1
    return max(0, int(0.1 * m) - 1), max(1, int(0.9 * m) - 1)


def next_trial_gaps(calls: list[list[Any]]) -> list[float]:
    """Per slot: from the end of one trial's function to the start of the slot's next one."""
    by_slot: dict[str, list[list[Any]]] = {}
    for call in calls:
        by_slot.setdefault(call[0], []).append(call)
    gaps = []
    for slot_calls in by_slot.values():
        slot_calls.sort(key=lambda c: c[2])
        for prev, nxt in zip(slot_calls, slot_calls[1:], strict=False):
            if prev[3] is not None:
                gaps.append(nxt[2] - prev[3])
    return gaps


def training_checks(calls: list[list[Any]], states: dict[int, str]) -> dict[str, Any]:
    """Did every trial's function run exactly once, and only for trials that exist?"""
    runs = Counter(int(c[1]) for c in calls)
    complete = [n for n, s in states.items() if s == "COMPLETE"]
    return {
        "function_calls": len(calls),
        "function_calls_unfinished": sum(1 for c in calls if c[3] is None),
        "trained_twice": sorted(n for n, k in runs.items() if k > 1),
        "complete_never_trained": sorted(n for n in complete if runs.get(n, 0) == 0),
        "trained_unknown_trial": sorted(n for n in runs if n not in states),
    }


def window_figures(
    calls: list[list[Any]], workers: int, sampler: CpuSampler | None, stopped_at: float | None
) -> dict[str, Any]:
    """Sustained trials/s and CPU per trial by component, over the steady window."""
    ends = sorted(c[3] for c in calls if c[3] is not None and c[3] <= (stopped_at or math.inf))
    starts = [c[2] for c in calls]
    out: dict[str, Any] = {}
    if len(ends) < 2:
        return {"trials_per_s": None}
    i0, i1 = steady_window(ends, workers, stopped_at is not None)
    ta, tb = ends[i0], ends[i1]
    n = i1 - i0
    out["window"] = {"from_end": i0 + 1, "to_end": i1 + 1, "seconds": round(tb - ta, 3)}
    out["trials_per_s"] = round(n / (tb - ta), 3) if tb > ta else None
    out["trials_per_s_whole_run"] = round(len(ends) / (ends[-1] - min(starts)), 3)
    if sampler is not None and tb > ta and n > 0:
        a, b = sampler.at(ta), sampler.at(tb)
        cpus = os.cpu_count() or 1
        per_trial = {k: round(1000 * (b[k] - a[k]) / n, 2) for k in a if k in b}
        # Whatever else ran on the machine meanwhile (another benchmark, the kernel's work).
        known = sum(v for k, v in per_trial.items() if k != "machine")
        per_trial["other"] = round(per_trial["machine"] - known, 2)
        out["cpu_ms_per_trial"] = per_trial
        out["cores_busy"] = {k: round((b[k] - a[k]) / (tb - ta), 2) for k in a if k in b}
        out["machine_cpu_busy"] = round((b["machine"] - a["machine"]) / (tb - ta) / cpus, 3)
        ours = sum(v for k, v in out["cores_busy"].items() if k != "machine")
        out["fleet_cpu_busy"] = round(ours / cpus, 3)  # this benchmark's processes and servers
    return out
