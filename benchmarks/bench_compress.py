"""What `automl export --quantize int8` and `--prune 0.5` give and cost on digits.

For each family (an MLP and a CNN, automl's first start point of each) and each trainer seed,
a study with one COMPLETE trial of that configuration is exported the way `automl export`
does it (`artifacts.export.export_trial`, one model, no ensemble), once per compression:
`--quantize int8`, `--prune 0.5`, and both. Each export measures its float model too (test
score, size of the weights file, latency of one row on one CPU thread, the two latencies
interleaved), so every ratio compares models trained from the same seed. It prints the median
over the seeds of the size ratio, the latency ratio and the test accuracy lost (points), and
for the int8 exports how torch's dynamic int8 Linear path (`quantize_dynamic`, which predict
does not use) would compare with the dequantised model predict runs. The last line is JSON.

    python benchmarks/bench_compress.py --seeds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import torch

VARIANTS: dict[str, dict[str, Any]] = {
    "int8": {"quantize": "int8"},
    "prune 0.5": {"prune": 0.5},
    "prune 0.5 + int8": {"prune": 0.5, "quantize": "int8"},
}


def make_study(
    folder: Path, family: str, params: dict[str, Any], epochs: int, seed: int
) -> tuple[Any, Any]:
    from automl.search.storage import make_storage
    from automl.search.study import SPEC_ATTR, stored_spec
    from automl.studyfile import StudySpec

    name = f"bench-{family}-{seed}"
    spec = StudySpec.model_validate({
        "name": name, "storage": str(folder / "bench.journal"), "objective": {"metric": "accuracy"},
        "data": {"source": "sklearn:digits"}, "model": {"family": family},
        "trainer": {"epochs": epochs, "device": "cpu", "seed": seed}, "space": params,
    })  # fmt: skip
    study = optuna.create_study(
        storage=make_storage(spec.storage), study_name=name, direction="maximize"
    )
    study.set_user_attr(SPEC_ATTR, stored_spec(spec))
    study.add_trial(optuna.trial.create_trial(value=0.0, user_attrs={"best_epoch": epochs}))
    return study, spec


def dynamic_ratio(folder: Path) -> float:
    """Latency of torch's dynamic int8 Linear path over the dequantised model predict runs."""
    from automl.artifacts.measure import latencies_ms
    from automl.artifacts.predict import load_export

    model, preprocessor, info = load_export(folder)
    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated: that is one reason predict avoids it
        warnings.simplefilter("ignore")
        dynamic = torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear}, dtype=torch.qint8
        )
    row = torch.zeros((1, *info["input_shape"]))
    dequantised, dyn = latencies_ms([model, dynamic], row)
    return dyn / dequantised


def main() -> None:
    from automl.artifacts.export import export_trial
    from automl.auto.spaces import CNN_START, MLP_START
    from automl.search.storage import quiet_optuna

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--mlp-epochs", type=int, default=30)
    parser.add_argument("--cnn-epochs", type=int, default=15)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads for training (latency always uses 1)"
    )
    args = parser.parse_args()
    quiet_optuna()
    torch.set_num_threads(args.threads)
    families = {
        "mlp": (dict(MLP_START[0]), args.mlp_epochs),
        "cnn": (dict(CNN_START[0]), args.cnn_epochs),
    }
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for family, (params, epochs) in families.items():
            print(f"{family}: {params}, {epochs} epochs, seeds 0..{args.seeds - 1}", flush=True)
            runs: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
            for seed in range(args.seeds):
                study, spec = make_study(Path(tmp), family, params, epochs, seed)
                for variant, flags in VARIANTS.items():
                    out = Path(tmp) / f"{family}-{seed}-{variant.replace(' ', '_')}"
                    r = export_trial(study, spec, out, 1, **flags)
                    f = r.float_model
                    assert f is not None
                    run = {
                        "size_ratio": r.size_bytes / f.size_bytes,
                        "latency_ratio": r.latency_ms / f.latency_ms,
                        "drop_points": 100 * (f.test - r.test_score),
                        "test": r.test_score,
                        "float_test": f.test,
                        "size_bytes": r.size_bytes,
                        "float_size_bytes": f.size_bytes,
                        "latency_ms": r.latency_ms,
                        "float_latency_ms": f.latency_ms,
                    }
                    if variant == "int8":
                        run["dynamic_int8_latency_ratio"] = dynamic_ratio(out)
                    runs[variant].append(run)
            for variant, seen in runs.items():
                medians = {k: statistics.median(run[k] for run in seen) for k in seen[0]}
                rows.append({"family": family, "variant": variant, "seeds": len(seen), **medians})
    print(
        f"\n{'family':6s} {'export':18s} {'size':>7s} {'latency':>8s} {'test drop':>10s} "
        f"{'test':>7s} {'float':>7s} "
        f"{'bytes':>9s} {'float bytes':>11s} {'ms/row':>7s} {'float ms':>8s}"
    )
    for row in rows:
        print(
            f"{row['family']:6s} {row['variant']:18s} {row['size_ratio']:6.2f}x "
            f"{row['latency_ratio']:7.2f}x "
            f"{row['drop_points']:+9.2f}p {row['test']:7.4f} {row['float_test']:7.4f} "
            f"{row['size_bytes']:9,.0f} {row['float_size_bytes']:11,.0f} {row['latency_ms']:7.3f} "
            f"{row['float_latency_ms']:8.3f}"
        )
    for row in rows:
        if "dynamic_int8_latency_ratio" in row:
            print(
                f"{row['family']}: torch's dynamic int8 Linear path takes "
                f"{row['dynamic_int8_latency_ratio']:.2f}x "
                "the time of the dequantised model predict runs"
            )
    print(f"(medians over {args.seeds} seeds; {time.perf_counter() - started:.0f} s in all)")
    print(json.dumps({"benchmark": "compress", "data": "sklearn:digits", "rows": rows}))


if __name__ == "__main__":
    main()
