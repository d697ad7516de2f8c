"""How long ``automl status`` takes on a study of N trials, in every storage kind.

    python benchmarks/bench_status.py --trials 100000 --repeats 3 [--storages ...] [--baseline REV]
    python benchmarks/bench_status.py --clean        # drop what it built: folder, database, keys

The study is the one ``status_fixture.py`` describes (built by automl's ``open_study``, then N
trials shaped like automl's), built once per storage and kept under ``--cache`` (default
/tmp/automl_bench_status), so a rerun only times: ``sqlite`` (a file there), ``journal-file``
(a ``.log`` file there), ``postgresql`` (database ``automl_bench_status`` on the machine's
PostgreSQL, created here), ``redis`` (database 11 of the machine's Redis, marked as this
benchmark's with the key ``automl_bench_status:owner``; it refuses a database that holds other
keys, and never flushes anything). ``--clean`` removes all of them.

What is timed: ``python -m automl status --storage URL --study NAME`` as a fresh process, from
start to exit (``--summary``: what ``automl run`` prints at its end, the top trials and the best
line, in a fresh process that opens the study), ``--repeats`` times per storage (median).
With ``--baseline REV`` the same command runs from a ``git worktree`` of that revision too,
interleaved run by run. The outputs of the current tree and the baseline are compared (the
running trials' ages aside). Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import status_fixture as fx  # noqa: E402

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DB = "automl_bench_status"
REDIS_URL = "redis://127.0.0.1:6379/11"
OWNER_KEY = "automl_bench_status:owner"
STORAGES = ("sqlite", "postgresql", "journal-file", "redis")


def study_name(n: int) -> str:
    return f"bench-status-{n}"


def build(kind: str, n: int, cache: Path) -> str:
    """The storage URL of the study of ``n`` trials, built unless it is there already."""
    cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    url = {"sqlite": lambda: _build_rdb(f"sqlite:///{cache / f'sqlite_{n}.db'}", n),
           "postgresql": lambda: _build_rdb(_pg_url(create=True), n),
           "journal-file": lambda: _build_journal(cache / f"journal_{n}.log", n),
           "redis": lambda: _build_redis(n)}[kind]()  # fmt: skip
    took = time.perf_counter() - started
    if took > 5:
        print(f"[{kind}] ready in {took:.0f} s", flush=True)
    return url


def _pg_url(create: bool = False) -> str:
    import psycopg

    if create:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (PG_DB,)
            ).fetchone():
                conn.execute(f"CREATE DATABASE {PG_DB}")
    return f"{PG_SERVER}/{PG_DB}"


def _build_rdb(url: str, n: int) -> str:
    import optuna

    from automl.search import make_storage
    from automl.search.counts import counts_by_state

    storage = make_storage(url)
    try:  # counted by the database (Optuna's get_n_trials would read every trial)
        study = optuna.load_study(study_name=study_name(n), storage=storage)
        if sum(counts_by_state(study).values()) == n:
            return url
        storage.delete_study(study._study_id)
    except KeyError:
        pass
    print(f"[{url.split(':')[0]}] building {n} trials", flush=True)
    study = fx.open_bench_study(study_name(n), url, n)
    fx.insert_trials(url, study._study_id, n)
    return url


def _header(n: int) -> list[str]:
    """The log lines ``open_study`` writes for the study in a new journal file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "h.log"
        fx.open_bench_study(study_name(n), str(path), n)
        return path.read_text().splitlines()


def _build_journal(path: Path, n: int) -> str:
    done = path.with_suffix(".done")
    if path.exists() and done.exists():
        return str(path)
    part = path.with_suffix(".part")
    with part.open("w") as f:
        for line in fx.journal_lines(_header(n), n):
            f.write(line + "\n")
    part.rename(path)
    done.touch()
    return str(path)


def _redis() -> Any:
    import redis

    return redis.Redis.from_url(REDIS_URL)


def _build_redis(n: int) -> str:
    """The journal's operations as Optuna's Redis backend stores them, and its last snapshot."""
    import pickle

    from optuna.storages.journal._storage import JournalOperation, JournalStorageReplayResult

    r = _redis()
    owner = r.get(OWNER_KEY)
    if owner == f"{n} done".encode():
        return REDIS_URL
    if owner is not None:
        print(f"[redis] replacing what {REDIS_URL} holds ({owner.decode()}): one study at a time")
    _clean_redis()
    r.set(OWNER_KEY, f"{n} building")
    fx.open_bench_study(study_name(n), REDIS_URL, n)  # writes its operations through Optuna
    header = [json.loads(r.get(f":log:{i}")) for i in range(int(r.get(":log_number")) + 1)]
    replay = JournalStorageReplayResult("bench-")
    replay.apply_logs(header)
    snapshot_at = (n - 1) // 100 * 100  # Optuna saves one when it creates trial id 100, 200, ...
    number, created, pipe = len(header), 0, r.pipeline(transaction=False)
    for op in fx.journal_ops(n):
        pipe.set(f":log:{number}", json.dumps(op))
        number += 1
        if created <= snapshot_at:
            replay.apply_logs([op])
            if op["op_code"] == JournalOperation.CREATE_TRIAL:
                created += 1
                if created - 1 == snapshot_at and snapshot_at:
                    pipe.set(":snapshot", pickle.dumps(replay))
        if number % 20_000 == 0:
            pipe.execute()
    pipe.set(":log_number", number - 1)
    pipe.set(OWNER_KEY, f"{n} done")
    pipe.execute()
    return REDIS_URL


def _clean_redis() -> None:
    r = _redis()
    if r.dbsize() and r.get(OWNER_KEY) is None:
        raise SystemExit(f"{REDIS_URL} holds keys that are not this benchmark's; not touching it")
    for pattern in (":log:*", ":log_number", ":snapshot", OWNER_KEY):
        keys = list(r.scan_iter(pattern, count=10_000))
        for i in range(0, len(keys), 10_000):
            r.delete(*keys[i : i + 10_000])


def clean(cache: Path) -> None:
    shutil.rmtree(cache, ignore_errors=True)
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB}")
    _clean_redis()
    print(f"removed {cache}, database {PG_DB}, the keys of {REDIS_URL}")


AGE = re.compile(r"\b\d+s\b|\"age_s\": [\d.]+")
TIME = shutil.which("time") or "/usr/bin/time"


# ``--summary``: what ``automl run`` prints when it ends (the top trials, the best line), in a
# fresh process that opens the study as the run does.
SUMMARY = """import sys
from rich.console import Console
from automl.report.summary import summary_table
from automl.search.outcomes import best_trial
from automl.search.study import load_study
study, _spec = load_study(sys.argv[1], sys.argv[2])
Console().print(summary_table(study))
print("best", best_trial(study).number)
"""


def time_status(
    src: Path, url: str, n: int, timeout_s: float, summary: bool = False
) -> dict[str, Any]:
    """One ``automl status`` (or ``summary``: the end of a run) as a fresh process: wall s (None
    past ``timeout_s``), peak RSS MB (GNU time's, when it is installed), and its output with the
    running trials' ages (and the table widths they change) blanked."""
    argv = [sys.executable, "-m", "automl", "status", "--storage", url, "--study", study_name(n)]
    if summary:
        argv = [sys.executable, "-c", SUMMARY, url, study_name(n)]
    env = dict(os.environ, PYTHONPATH=str(src), COLUMNS="160")
    timed = Path(TIME).exists()
    with tempfile.NamedTemporaryFile() as rss:
        if timed:
            argv = [TIME, "-f", "%M", "-o", rss.name, *argv]
        start = time.perf_counter()
        try:
            out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"s": None, "rss_mb": None, "out": "timed out"}
        took = time.perf_counter() - start
        if out.returncode:
            raise SystemExit(f"status failed: {out.stderr.strip()[-500:]}")
        peak = int(Path(rss.name).read_text().split()[-1]) / 1024 if timed else None
    text = re.sub(r"[ ─━]+", " ", AGE.sub("AGE", out.stdout))
    return {"s": took, "rss_mb": peak, "out": text}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=100_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--storages", nargs="+", choices=STORAGES, default=list(STORAGES))
    p.add_argument("--cache", type=Path, default=Path("/tmp/automl_bench_status"))
    p.add_argument("--baseline", metavar="REV", help="a git revision to compare with")
    p.add_argument("--baseline-repeats", type=int, default=1, help="runs of the baseline")
    p.add_argument("--timeout-s", type=float, default=1200, help="give up on one run after this")
    p.add_argument("--build-only", action="store_true", help="build the studies, time nothing")
    p.add_argument("--clean", action="store_true", help="remove everything this benchmark built")
    p.add_argument(
        "--summary", action="store_true", help="time the end of automl run instead of status"
    )
    args = p.parse_args()
    if args.clean:
        return clean(args.cache)
    urls = {kind: build(kind, args.trials, args.cache) for kind in args.storages}
    if args.build_only:
        return
    trees = {"current": (ROOT / "src", args.repeats)}
    if args.baseline:
        base = args.cache / f"baseline-{args.baseline}"
        if not base.exists():
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base),
                            args.baseline], check=True)  # fmt: skip
        trees[f"baseline {args.baseline}"] = (base / "src", args.baseline_repeats)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {k: {t: [] for t in trees} for k in urls}
    try:
        for i in range(max(r for _, r in trees.values())):
            for kind, url in urls.items():
                for tree, (src, repeats) in trees.items():
                    if i < repeats:
                        runs[kind][tree].append(
                            time_status(src, url, args.trials, args.timeout_s, args.summary)
                        )
    finally:
        if args.baseline:
            _remove_worktree(args.cache / f"baseline-{args.baseline}")
    report(args, urls, runs)


def _remove_worktree(path: Path) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=True)


def _size_mb(kind: str, url: str) -> float | None:
    if kind in ("sqlite", "journal-file"):
        return os.path.getsize(url.removeprefix("sqlite:///")) / 1e6
    return None


def report(
    args: argparse.Namespace, urls: dict[str, str], runs: dict[str, dict[str, list[dict[str, Any]]]]
) -> None:
    what = "the end of automl run" if args.summary else "automl status --storage URL --study"
    print(f"\n{what} {study_name(args.trials)}: seconds, median (runs)\n")
    trees = list(next(iter(runs.values())))
    print(f"{'storage':<14}{'trials':>8}{'size MB':>9}  " + "".join(f"{t:>36}" for t in trees)
          + "  peak RSS MB   same output")  # fmt: skip
    result: dict[str, Any] = {"trials": args.trials, "summary": args.summary, "storages": {}}
    for kind, url in urls.items():
        cells, entry = [], {"url": url, "size_mb": _size_mb(kind, url)}
        for tree in trees:
            times = [r["s"] for r in runs[kind][tree]]
            done = [t for t in times if t is not None]
            med = statistics.median(done) if len(done) == len(times) else None
            shown = ", ".join("timeout" if t is None else f"{t:.2f}" for t in times)
            cells.append(f"{'-' if med is None else f'{med:.2f}':>8} ({shown})")
            entry[tree] = {
                "median_s": med and round(med, 3),
                "runs_s": [t and round(t, 3) for t in times],
                "peak_rss_mb": max((r["rss_mb"] or 0) for r in runs[kind][tree]),
            }
        outputs = {r["out"] for tree in trees for r in runs[kind][tree] if r["s"] is not None}
        entry["same_output"] = len(outputs) == 1
        result["storages"][kind] = entry
        size = "" if entry["size_mb"] is None else f"{entry['size_mb']:.0f}"
        rss = "/".join(f"{entry[t]['peak_rss_mb']:.0f}" for t in trees)
        print(f"{kind:<14}{args.trials:>8}{size:>9}  " + "".join(f"{c:>36}" for c in cells)
              + f"  {rss:>11}   {entry['same_output']}")  # fmt: skip
    for kind in urls:
        if not result["storages"][kind]["same_output"]:
            for tree in trees:
                print(f"--- {kind}, {tree}:\n{runs[kind][tree][0]['out']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
