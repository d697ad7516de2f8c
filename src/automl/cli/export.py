"""`automl export`: retrain a trial's configuration, score it on the held-out test split, save it
(optionally pruned and int8), and say what compression cost."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from automl.artifacts.export import QUANTISATIONS, ExportResult, export_trial
from automl.cli.common import add_study_flags, storage_for_study
from automl.errors import UsageError
from automl.report.format import fmt_value
from automl.search import load_study


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_study_flags(p)
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="the folder to write")
    p.add_argument(
        "--trial", type=int, metavar="N",
        help="export COMPLETE trial N (default: the best trial; with several objectives, the "
        "member of the Pareto front best on the first non-cost objective)",
    )  # fmt: skip
    p.add_argument(
        "--ensemble", type=int, metavar="N",
        help="average N models of the configuration, each with its own seed "
        "(default: 5 up to 20,000 training rows, else 1)",
    )  # fmt: skip
    p.add_argument(
        "--quantize", metavar="|".join(QUANTISATIONS),
        help="store the Linear and Conv weights as int8 with a float32 scale per output channel",
    )  # fmt: skip
    p.add_argument(
        "--prune", type=float, metavar="F",
        help="remove the fraction F (0 < F < 1) of hidden units / conv channels with the smallest "
        "weight norms, then fine-tune for a few epochs (built-in mlp and cnn only)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    storage, name = storage_for_study(args)
    study, spec = load_study(storage, name, retry_s=args.settings.storage_retry_s)
    if spec.own_code:
        raise UsageError(
            f"export applies to the built-in trainer only; study {name} runs your own "
            "code (train:), which saves its own models"
        )
    result = export_trial(
        study,
        spec,
        Path(args.output),
        args.ensemble,
        trial=args.trial,
        quantize=args.quantize,
        prune=args.prune,
    )
    if args.json:
        console.print_json(json.dumps(result.as_json()))
        return 0
    console.print(escape(summary(result)), soft_wrap=True)
    return 0


def summary(r: ExportResult) -> str:
    """One line: what was exported, its test score, and what compression gave and cost."""
    how = [f"{r.epochs} epochs"] + (
        [f"an ensemble of {r.ensemble} models"] if r.ensemble > 1 else []
    )
    how += [f"pruned {r.pruned:.0%}"] if r.pruned else []
    how += [r.precision] if r.precision != "fp32" else []
    line = (
        f"exported trial {r.trial} ({', '.join(how)}) to {r.folder}: test {r.metric} "
        f"{fmt_value(r.test_score)}"
    )
    before = r.float_model
    if before is None:
        line += (
            f" (cross-validated {fmt_value(r.cv_score)}), {r.size_bytes:,} bytes, "
            f"{r.latency_ms:.3f} ms/row"
        )
    else:
        line += (
            f" (float {fmt_value(before.test)}: {r.test_score - before.test:+.4f}; "
            f"cross-validated {fmt_value(r.cv_score)}), "
            f"{r.size_bytes:,} bytes ({_ratio(r.size_bytes, before.size_bytes)}), "
            f"{r.latency_ms:.3f} ms/row ({_ratio(r.latency_ms, before.latency_ms)})"
        )
    if r.objectives:
        line += "; objectives " + ", ".join(f"{k} {_value(v)}" for k, v in r.objectives.items())
    return line


def _ratio(new: float, old: float) -> str:
    return f"{new / old:.2f}x" if old > 0 else "-"


def _value(v: float | int) -> str:
    return f"{v:,}" if isinstance(v, int) else fmt_value(v)
