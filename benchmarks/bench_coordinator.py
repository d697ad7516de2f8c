"""The coordinator at scale: a study of N instant trials through the real ``Coordinator`` loop.

    python benchmarks/bench_coordinator.py --trials 100000 --storages sqlite journal-file \\
        --out /tmp/bench_coordinator.json

What runs: ``Coordinator(spec, study, InstantBackend).run()`` (src/automl/coordinator/loop.py)
on a study opened by ``open_study`` from a study file given to ``parse_spec``: random sampler
(seed 0), no pruner, ``n_trials: N``, ``parallelism: 8``, a space of four parameters (lr
log-float, width log-int, dropout float, optimizer categorical). Nothing trains.
:class:`InstantBackend` ends each trial the moment it is submitted: ``submit`` hands the trial
number to a fake worker *process* (started before the clock, with its own storage object, as a
real worker has), which re-opens the study with ``load_study`` and calls
``study.tell(number, value, skip_if_finished=True)`` with a pseudo-random value, as
``automl.runner.execute.execute_trial`` does, and answers; ``submit`` returns only then, so the
storage knows the outcome before the coordinator collects it, and ``wait`` returns ENDED
events for every trial submitted since the last call. The worker runs in its own process so
that its copy of the study (a journal storage replays the whole log) is not counted in the
coordinator's memory, and so that the coordinator reads back another process's writes.

Each storage of ``--storages`` runs in a fresh child process (so that its peak memory is its
own): ``sqlite`` (a new file in a new folder under ``--dir``, default /tmp), ``journal-file``
(a new ``.journal`` file there), ``postgresql`` (the machine's PostgreSQL at
postgresql://postgres@127.0.0.1:5432/test, a unique study name, the study deleted afterwards
unless ``--keep``; the server is never stopped or restarted).

Figures, per storage:

- **ms per trial** (ask + dispatch + the fake worker's tell + collect, i.e. the whole loop
  with zero training time): a ``Progress`` object given to the Coordinator timestamps every
  finished trial (``update(state, finished)``); the figure for a window is (time the last
  trial of the window ended - time the trial before the window ended) / window size, over
  trials 1000-1999, 10000-10999, 20000-20999, 50000-50999 and N-1000..N-1 (those that fit).
  The mean of every block of 1000 trials is in the JSON. Target: flat from 1k to 100k (the
  printed ratio last window / 1k window; "flat" means at most 1.5).
- **automl status** at the end: ``automl status --storage URL --study NAME`` and the same with
  ``--json``, each run 3 times as a subprocess, median wall time, and the peak RSS of that
  process. Target: at most 5 s at 100k trials.
- **coordinator memory**: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of the child process at
  the end (the peak; imports included), and its RSS (/proc/self/status) before the study is
  opened and after the run. Target: peak at most 1 GB at 100k trials.
- which heavy modules (torch, sklearn, pandas, ...) the coordinator process and the
  ``automl status`` process imported: neither trains, so neither should import torch.

``--budget-min`` (default 15): from 10,000 trials done on, at every 1000 trials, the run
projects its end from the rate of the last 1000 trials; when the projection passes the budget
(or the elapsed time does), it stops dispatching, lets the trials in flight end, and reports
the figures for the trials it reached (marked "stopped early"). ``--profile FILE`` writes a
cProfile of the coordinator child's run (use one storage and fewer trials).

Run it on a quiet machine: it is single-threaded, and another load skews every figure.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import multiprocessing as mp
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from collections import deque
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
STORAGES = ("sqlite", "journal-file", "postgresql")
PARALLELISM = 8
WINDOW = 1000
WINDOW_STARTS = (1000, 10_000, 20_000, 50_000)
STATUS_REPEATS = 3
HEAVY_MODULES = (
    "torch",
    "sklearn",
    "pandas",
    "scipy",
    "matplotlib",
    "plotly",
    "mlflow",
    "wandb",
    "celery",
)
TARGET_STATUS_S = 5.0
TARGET_PEAK_MB = 1024.0
TARGET_FLAT_RATIO = 1.5

SPEC_YAML = """\
name: {name}
storage: "{url}"
objective:
  metric: accuracy
data:
  source: sklearn:iris
space:
  lr: {{low: 1.0e-4, high: 1.0e-1, log: true}}
  width: {{low: 16, high: 256, log: true}}
  dropout: {{low: 0.0, high: 0.5}}
  optimizer: {{choices: [adam, adamw, sgd]}}
search:
  sampler: {{type: random, seed: 0}}
  pruner: {{type: none}}
  n_trials: {n_trials}
execution:
  parallelism: {parallelism}
"""


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


def maxrss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # kilobytes on Linux


# -- the fake worker and the backend ----------------------------------------------------------


def _worker_main(conn: Any, url: str, study_name: str) -> None:
    """A worker that does no work: tell each trial it is given, with a pseudo-random value."""
    from automl.search import load_study, quiet_optuna

    quiet_optuna()
    study, _spec = load_study(url, study_name)
    rng = random.Random(1)
    conn.send("ready")
    while True:
        number = conn.recv()
        if number is None:
            break
        study.tell(number, rng.random(), skip_if_finished=True)
        conn.send(number)
    conn.send(maxrss_mb())
    conn.close()


def _make_backend(url: str, study_name: str, capacity: int) -> Any:
    from automl.backends.base import Backend, EventKind, TrialEvent, TrialJob

    class InstantBackend(Backend):
        """Ends each trial the moment it is submitted: the fake worker has told the storage
        before ``submit`` returns, and the next ``wait`` reports it ENDED."""

        def __init__(self) -> None:
            self._capacity = capacity
            self._ended: deque[int] = deque()
            self._conn, child = mp.get_context("spawn").Pipe()
            self._proc = mp.get_context("spawn").Process(
                target=_worker_main, args=(child, url, study_name), daemon=True
            )
            self._proc.start()
            if self._conn.recv() != "ready":  # before any clock: the worker has opened the study
                raise RuntimeError("the fake worker did not start")
            self.worker_peak_mb: float | None = None

        @property
        def capacity(self) -> int:
            return self._capacity

        def start(self) -> None:
            return None

        def submit(self, job: TrialJob) -> None:
            self._conn.send(job.trial_number)
            self._ended.append(self._conn.recv())

        def wait(self, timeout_s: float) -> list[TrialEvent]:
            events = [TrialEvent(EventKind.ENDED, n) for n in self._ended]
            self._ended.clear()
            return events

        def cancel_all(self) -> list[int]:
            numbers = list(self._ended)
            self._ended.clear()
            return numbers

        def close(self) -> None:
            if self._proc.is_alive() and self.worker_peak_mb is None:
                self._conn.send(None)
                self.worker_peak_mb = self._conn.recv()
                self._proc.join(10)

    return InstantBackend()


# -- the timestamps ---------------------------------------------------------------------------


class Stamps:
    """A Progress: the time every trial finished, and the brake of ``--budget-min``."""

    def __init__(self, n_trials: int, budget_s: float) -> None:
        self.n_trials = n_trials
        self.budget_s = budget_s
        self.t0 = time.perf_counter()
        self.times = array("d")
        self.rss: list[tuple[int, float]] = []
        self.stopped_early: str | None = None

    def update(self, state: Any, finished: Any = None) -> None:
        if finished is None:
            return
        now = time.perf_counter()
        self.times.append(now)
        k = len(self.times)
        if k % WINDOW or self.stopped_early:
            return
        if k % 10_000 == 0:
            self.rss.append((k, round(rss_mb(), 1)))
        elapsed = now - self.t0
        rate = (now - self.times[k - WINDOW - 1]) / WINDOW if k > WINDOW else (now - self.t0) / k
        projected = elapsed + (self.n_trials - k) * rate
        if elapsed > self.budget_s or (k >= 10_000 and projected > self.budget_s):
            self.stopped_early = (
                f"stopped at {k} trials: {elapsed / 60:.1f} min elapsed, {projected / 60:.1f} min "
                f"projected at {rate * 1000:.2f} ms/trial (budget {self.budget_s / 60:.0f} min)"
            )
            # no more dispatches; in-flight trials end
            state.n_trials = state.done + len(state.running)

    def window_ms(self, start: int, size: int = WINDOW) -> float | None:
        """Mean ms per trial over trials start..start+size-1 (0-based count of finished trials)."""
        if start < 1 or start + size > len(self.times):
            return None
        return (self.times[start + size - 1] - self.times[start - 1]) / size * 1000


# -- one storage, in a child process ----------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    from automl.coordinator import Coordinator
    from automl.search import open_study, quiet_optuna
    from automl.studyfile import parse_spec

    quiet_optuna()
    rss_start = rss_mb()
    spec = parse_spec(
        SPEC_YAML.format(
            name=args.name, url=args.url, n_trials=args.trials, parallelism=PARALLELISM
        )
    )
    study = open_study(spec, args.url)
    backend = _make_backend(args.url, args.name, PARALLELISM)
    stamps = Stamps(args.trials, args.budget_min * 60)
    profiler = cProfile.Profile() if args.profile else None
    stamps.t0 = time.perf_counter()
    if profiler:
        profiler.enable()
    state = Coordinator(spec, study, backend, progress=stamps).run()
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    wall = time.perf_counter() - stamps.t0
    n = len(stamps.times)
    windows = {
        f"{s}-{s + WINDOW - 1}": stamps.window_ms(s)
        for s in WINDOW_STARTS
        if s + WINDOW <= n - WINDOW
    }
    if n > WINDOW:
        windows[f"{n - WINDOW}-{n - 1}"] = stamps.window_ms(n - WINDOW)
    blocks = [round(stamps.window_ms(s) or 0.0, 4) for s in range(1, n - WINDOW + 1, WINDOW)]
    result = {
        "trials_done": n,
        "counts": state.counts,
        "stopping": state.stopping,
        "stopped_early": stamps.stopped_early,
        "wall_s": round(wall, 2),
        "mean_ms_per_trial": round(wall / n * 1000, 4) if n else None,
        "windows_ms": {k: round(v, 4) for k, v in windows.items() if v is not None},
        "block_ms": blocks,
        "rss_start_mb": round(rss_start, 1),
        "rss_end_mb": round(rss_mb(), 1),
        "peak_rss_mb": round(maxrss_mb(), 1),
        "rss_every_10k": stamps.rss,
        "worker_peak_rss_mb": backend.worker_peak_mb,
        "heavy_modules_imported": [m for m in HEAVY_MODULES if m in sys.modules],
    }
    Path(args.result).write_text(json.dumps(result))


# -- the parent: one child per storage, then `automl status` ----------------------------------


def _automl() -> list[str]:
    script = Path(sys.executable).with_name("automl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "automl"]


def _timed(cmd: list[str]) -> tuple[float, float, int, int]:
    """(wall s, peak RSS MB, exit code, bytes of stdout) of one subprocess."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, proc.returncode, len(out)


def time_status(url: str, name: str) -> dict[str, Any]:
    base = [*_automl(), "status", "--storage", url, "--study", name]
    result: dict[str, Any] = {}
    for label, cmd in (("status", base), ("status_json", [*base, "--json"])):
        runs = [_timed(cmd) for _ in range(STATUS_REPEATS)]
        result[label] = {
            "median_s": round(statistics.median(r[0] for r in runs), 3),
            "runs_s": [round(r[0], 3) for r in runs],
            "peak_rss_mb": round(max(r[1] for r in runs), 1),
            "exit_codes": sorted({r[2] for r in runs}),
            "stdout_bytes": runs[0][3],
        }
    probe = (
        "import sys, contextlib, io\nfrom automl.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main(['status', '--storage', {url!r}, '--study', {name!r}])\n"
        f"print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    ).stdout
    result["status_heavy_modules_imported"] = [m for m in out.strip().split(",") if m]
    return result


def run_storage(kind: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    name = f"bench-coord-{kind}-{uuid.uuid4().hex[:8]}"
    if kind == "sqlite":
        url = f"sqlite:///{tmp / (name + '.db')}"
        path: Path | None = tmp / (name + ".db")
    elif kind == "journal-file":
        path = tmp / (name + ".journal")
        url = str(path)
    else:
        url, path = PG_URL, None
    result_file = tmp / (name + ".json")
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--url",
        url,
        "--name",
        name,
        "--trials",
        str(args.trials),
        "--budget-min",
        str(args.budget_min),
        "--result",
        str(result_file),
    ]
    if args.profile:
        cmd += ["--profile", args.profile]
    print(f"[{kind}] {args.trials} trials, study {name} ...", flush=True)
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    out: dict[str, Any] = {
        "storage": kind,
        "url": url,
        "study": name,
        **json.loads(result_file.read_text()),
    }
    out["child_wall_s"] = round(time.perf_counter() - started, 1)
    if path is not None and path.exists():
        out["storage_file_mb"] = round(path.stat().st_size / 2**20, 1)
    print(f"[{kind}] run done in {out['wall_s']:.0f} s; timing automl status ...", flush=True)
    out.update(time_status(url, name))
    if kind == "postgresql" and not args.keep:
        import optuna

        optuna.delete_study(
            study_name=name, storage=url.replace("postgresql://", "postgresql+psycopg://")
        )
    return out


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def report(results: list[dict[str, Any]], n_trials: int) -> None:
    print(
        f"\ncoordinator at scale: {n_trials} instant trials requested, random sampler, "
        f"parallelism {PARALLELISM}"
    )
    for r in results:
        print(
            f"\n== {r['storage']} ({r['trials_done']} trials done, {r['wall_s']:.0f} s, "
            f"mean {r['mean_ms_per_trial']:.2f} ms/trial; stopping: {r['stopping']})"
        )
        if r["stopped_early"]:
            print(f"   STOPPED EARLY: {r['stopped_early']}")
        print("   ms per trial (ask + dispatch + tell + collect), by trials done:")
        for window, ms in r["windows_ms"].items():
            print(f"     trials {window:>13}: {ms:8.3f} ms")
        values = list(r["windows_ms"].values())
        ratio = values[-1] / values[0] if len(values) >= 2 and values[0] else None
        verdict = "-" if ratio is None else ("flat" if ratio <= TARGET_FLAT_RATIO else "GROWS")
        print(
            f"   last window / first window: {_fmt(ratio)}x  (target: flat, <= "
            f"{TARGET_FLAT_RATIO}x): {verdict}"
        )
        for label in ("status", "status_json"):
            s = r[label]
            flag = "ok" if s["median_s"] <= TARGET_STATUS_S else "OVER"
            print(
                f"   automl {label.replace('_', ' --'):<14} median {s['median_s']:6.2f} "
                f"s (runs {s['runs_s']}), "
                f"peak RSS {s['peak_rss_mb']:.0f} MB, exit {s['exit_codes']}  (target <= "
                f"{TARGET_STATUS_S:.0f} s: {flag})"
            )
        flag = "ok" if r["peak_rss_mb"] <= TARGET_PEAK_MB else "OVER"
        print(
            f"   coordinator memory: peak (ru_maxrss) {r['peak_rss_mb']:.0f} MB (target "
            f"<= {TARGET_PEAK_MB:.0f} MB: {flag}); "
            f"RSS {r['rss_start_mb']:.0f} MB at start -> {r['rss_end_mb']:.0f} MB at end "
            f"(+{r['rss_end_mb'] - r['rss_start_mb']:.0f} MB); every 10k: {r['rss_every_10k']}"
        )
        print(
            f"   fake worker peak RSS {_fmt(r['worker_peak_rss_mb'], '.0f')} MB; storage "
            f"file {r.get('storage_file_mb', '-')} MB"
        )
        print(
            f"   heavy modules imported: coordinator {r['heavy_modules_imported'] or 'none'}, "
            f"automl status {r['status_heavy_modules_imported'] or 'none'}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--trials", type=int, default=100_000)
    ap.add_argument("--storages", nargs="+", default=["sqlite", "journal-file"], choices=STORAGES)
    ap.add_argument("--out", default="/tmp/bench_coordinator.json")
    ap.add_argument(
        "--budget-min",
        type=float,
        default=15.0,
        help="stop a storage's run early past this (see above)",
    )
    ap.add_argument("--profile", metavar="FILE", help="cProfile the coordinator's run into FILE")
    ap.add_argument(
        "--dir", help="where the sqlite and journal files go (default: a new folder under /tmp)"
    )
    ap.add_argument(
        "--keep", action="store_true", help="keep the study files and the PostgreSQL study"
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--name", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench_coordinator_", dir=args.dir))
    started = time.perf_counter()
    results = []
    try:
        for kind in args.storages:
            results.append(run_storage(kind, args, tmp))
            Path(args.out).write_text(
                json.dumps({"trials": args.trials, "results": results}, indent=1)
            )
    finally:
        if args.keep:
            print(f"study files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report(results, args.trials)
    print(f"\ntotal {time.perf_counter() - started:.0f} s; JSON in {args.out}")


if __name__ == "__main__":
    main()
