"""A study run with passwords in its URLs leaves no password anywhere a person or tool can read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from automl.search import load_study, make_storage
from tests.conftest import POSTGRES_URL, require_service, tiny_yaml

SECRET = "SeCrEtPw42xyz"


def _with_password(url: str) -> str:
    # The test server trusts local connections, so any password is accepted: this one is fake.
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{SECRET}@")


def test_no_password_in_any_output_or_stored_attribute(tmp_path: Path, study_name: str) -> None:
    require_service(POSTGRES_URL)
    storage = _with_password(POSTGRES_URL)
    assert SECRET in storage
    study_file = tmp_path / "s.yaml"
    study_file.write_text(tiny_yaml(study_name, "sqlite:///ignored.db", n_trials=2))
    env = {**os.environ, "AUTOML_STORAGE": storage, "AUTOML_BROKER": f"redis://:{SECRET}@127.0.0.1:6379/0"}
    outputs = []
    for args in (
        ["run", str(study_file)],
        ["status", str(study_file)],
        ["status", str(study_file), "--json"],
        ["validate", str(study_file), "--json"],
        ["report", str(study_file), "-o", str(tmp_path / "report.html")],
        ["export", str(study_file), "-o", str(tmp_path / "export")],
        ["run", str(study_file), "--storage", storage.replace("127.0.0.1:5432", "127.0.0.1:1")],  # a failure message
    ):
        result = subprocess.run([sys.executable, "-m", "automl", *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
        outputs.append(result.stdout + result.stderr)
    assert "cannot open storage postgresql://postgres:***@127.0.0.1:1/test" in outputs[-1]
    files = [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".safetensors"]
    study, _ = load_study(POSTGRES_URL, study_name)
    sid = study._study_id  # noqa: SLF001
    stored = [json.dumps(study.user_attrs, default=str), json.dumps(study._storage.get_study_system_attrs(sid), default=str)]  # noqa: SLF001
    for t in study.trials:
        stored += [json.dumps(t.user_attrs, default=str), json.dumps(t.system_attrs, default=str), json.dumps(t.params)]
    storage_obj = make_storage(POSTGRES_URL, cached=False)
    stored += [s.study_name for s in storage_obj.get_all_studies()]
    haystack = "\n".join(outputs + files + stored)
    assert len(study.trials) == 2 and "export" in "\n".join(str(p) for p in tmp_path.iterdir())
    assert SECRET not in haystack
    assert "postgres:***@" in haystack  # the URL is shown, masked
