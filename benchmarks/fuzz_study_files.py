"""The study-file fuzzer of tests/studyfile/test_corpus.py, run for many more examples (not in CI).

    python benchmarks/fuzz_study_files.py --examples 10000

Each example is the valid study file of the test with one to three random edits (a value
replaced by a random one, a key deleted, a key added), written as YAML and given to
``automl validate`` in this process. It must exit 0, or exit 2 with exactly one line on
stderr, print no traceback, and write nothing. Hypothesis stops at the first example that
breaks a rule and shrinks it; the script prints the count and that example.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.studyfile.test_corpus import mutated_study, run_cli  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=10_000)
    ap.add_argument("--out", default="/tmp/fuzz_study_files.json")
    args = ap.parse_args()
    codes: Counter[int] = Counter()
    first_lines: Counter[str] = Counter()
    failure: dict[str, object] = {}
    started = time.monotonic()

    @settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(study=mutated_study())
    def check(study: dict) -> None:  # type: ignore[type-arg]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "fuzz.yaml"
            path.write_text(yaml.safe_dump(study))
            code, out, err = run_cli(["validate", str(path)])
            codes[code] += 1
            lines = [line for line in err.splitlines() if line.strip()]
            if code == 2 and lines:
                first_lines[lines[0].split(":")[1].strip() if ":" in lines[0] else lines[0]] += 1
            assert "Traceback" not in err + out, err
            assert code in (0, 2), err
            if code == 2:
                assert len(lines) == 1, err
            assert sorted(p.name for p in Path(tmp).iterdir()) == ["fuzz.yaml"]

    try:
        check()
    except Exception as exc:  # noqa: BLE001 - the first broken rule, shrunk by Hypothesis
        failure = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
    result = {
        "examples": sum(codes.values()),
        "exit_codes": dict(codes),
        "failure": failure or None,
        "seconds": round(time.monotonic() - started, 1),
        "fields_named_most": first_lines.most_common(10),
    }
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
