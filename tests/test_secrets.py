"""A study run with passwords in its URLs leaves no password anywhere a person or tool can read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from automl.masking import mask_credentials, mask_text, mask_url
from automl.search import load_study, make_storage
from automl.search.study import fail_trial, stored_spec
from automl.studyfile import parse_spec
from automl.trial_attrs import FailKind
from tests.conftest import tiny_yaml

SECRET = "SeCrEtPw42xyz"


def _in_userinfo(url: str) -> str:
    # The test server trusts local connections, so any password is accepted: this one is fake.
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{SECRET}@")


def _in_query(url: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}password={SECRET}"  # libpq takes it there too


@pytest.mark.integration
@pytest.mark.slow  # seven commands, each a process of its own
@pytest.mark.parametrize("with_password", [_in_userinfo, _in_query], ids=["userinfo", "query"])
def test_no_password_in_any_output_or_stored_attribute(
    tmp_path: Path, study_name: str, postgres_url: str, with_password
) -> None:  # type: ignore[no-untyped-def]
    storage = with_password(postgres_url)
    assert SECRET in storage
    study_file = tmp_path / "s.yaml"
    study_file.write_text(tiny_yaml(study_name, "sqlite:///ignored.db", n_trials=2))
    env = {
        **os.environ,
        "AUTOML_STORAGE": storage,
        "AUTOML_BROKER": f"redis://:{SECRET}@127.0.0.1:6379/0",
    }
    outputs = []
    # a failure message
    for args in (
        ["run", str(study_file)],
        ["status", str(study_file)],
        ["status", str(study_file), "--json"],
        ["validate", str(study_file), "--json"],
        ["report", str(study_file), "-o", str(tmp_path / "report.html")],
        ["export", str(study_file), "-o", str(tmp_path / "export")],
        [
            "run",
            str(study_file),
            "--storage",
            storage.replace("127.0.0.1:5432", "127.0.0.1:1"),
        ],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "automl", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        outputs.append(result.stdout + result.stderr)
    assert "cannot open storage postgresql://postgres" in outputs[-1] and "***" in outputs[-1]
    files = [
        p.read_text(errors="replace")
        for p in tmp_path.rglob("*")
        if p.is_file() and p.suffix != ".safetensors"
    ]
    study, _ = load_study(postgres_url, study_name)
    sid = study._study_id  # noqa: SLF001
    stored = [
        json.dumps(study.user_attrs, default=str),
        json.dumps(study._storage.get_study_system_attrs(sid), default=str),  # noqa: SLF001
    ]
    for t in study.trials:
        stored += [
            json.dumps(t.user_attrs, default=str),
            json.dumps(t.system_attrs, default=str),
            json.dumps(t.params),
        ]
    storage_obj = make_storage(postgres_url, cached=False)
    stored += [s.study_name for s in storage_obj.get_all_studies()]
    haystack = "\n".join(outputs + files + stored)
    assert len(study.trials) == 2 and "export" in "\n".join(str(p) for p in tmp_path.iterdir())
    assert SECRET not in haystack
    shown = "postgres:***@" if with_password is _in_userinfo else "password=***"
    assert shown in haystack  # the URL is shown, masked where the password was


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:p@ss@db:5432/x", "postgresql://u:***@db:5432/x"),  # "@" in the password
        ("postgresql://u:a@b@c@db/x?sslmode=require", "postgresql://u:***@db/x?sslmode=require"),
        (
            "postgresql://u@db/x?sslmode=require&password=hunter2",
            "postgresql://u@db/x?sslmode=require&password=***",
        ),
        ("redis://h:6379/1?password=hunter2", "redis://h:6379/1?password=***"),
        ("rediss://:tok@h:6380/0?ssl_cert_reqs=none", "rediss://:***@h:6380/0?ssl_cert_reqs=none"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_every_password_form_is_masked(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert mask_credentials(f"cannot reach {url} now") == f"cannot reach {masked} now"


def test_a_password_a_driver_echoes_bare_is_masked_too() -> None:
    url = "postgresql://u@db/x?password=hunter2"
    assert mask_text('FATAL: password "hunter2" rejected', url) == 'FATAL: password "***" rejected'
    assert mask_text("auth failed for p@ss!", "postgresql://u:p@ss!@db/x") == "auth failed for ***"


def test_every_url_stored_with_the_study_file_is_masked() -> None:
    spec = parse_spec(
        tiny_yaml("s", "postgresql://u:pw1secret@db/x", n_trials=1)
        + f"tracking: {{mlflow: {{tracking_uri: 'https://bob:{SECRET}@mlflow.example.com'}}}}\n"
    )
    text = json.dumps(stored_spec(spec))
    assert SECRET not in text and "pw1secret" not in text
    assert "https://bob:***@mlflow.example.com" in text


def test_a_failure_reason_is_masked_before_it_is_stored(tmp_path: Path) -> None:
    study = optuna.create_study(storage=make_storage(str(tmp_path / "s.journal")))
    trial = study.ask()
    assert fail_trial(
        study,
        study.trials[trial.number],
        f"worker failed: cannot reach redis://:{SECRET}@h:6379/0",
        FailKind.ERROR,
    )
    assert SECRET not in study.trials[0].user_attrs["fail_reason"]


@pytest.mark.slow  # four automl processes
@pytest.mark.parametrize(
    ("argv", "env", "field", "encoded"),
    [
        (["validate", "SPEC", "--storage", "postgresql://u:p@ss-word@db/x"], {}, "storage", "%40"),
        (["run", "SPEC", "--storage", "redis://:p/ss-word@host:6379/0"], {}, "storage", "%2F"),
        (
            ["worker", "--storage", "x.journal", "--broker", "redis://:p?ss-word@host:6379/0"],
            {},
            "--broker",
            "%3F",
        ),
        (["status", "SPEC"], {"AUTOML_STORAGE": "postgresql://u:p#ss-word@db/x"}, "storage", "%23"),
    ],
    ids=["@", "/", "?", "#"],
)
def test_a_separator_in_a_password_is_refused_before_a_driver_can_print_part_of_it(
    tmp_path: Path, argv: list[str], env: dict[str, str], field: str, encoded: str
) -> None:
    """A driver ends the password at the first "@", "/", "?" or "#" and prints the rest as a
    host, port or database ('ss-word@db'), past any masking; automl refuses the URL first, with
    one line naming the field (tests/cli/test_url_passwords.py: every command, in-process)."""
    spec = tmp_path / "s.yaml"
    spec.write_text(tiny_yaml("s", str(tmp_path / "s.journal")))
    done = subprocess.run(
        [sys.executable, "-m", "automl", *[str(spec) if a == "SPEC" else a for a in argv]],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}") and encoded in lines[0], (
        done.stderr
    )
    assert "ss-word" not in done.stdout + done.stderr


def test_a_lost_storage_error_is_masked_against_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RetryingStorage's "lost the storage" error quotes the driver's last error: the pieces of
    the password in it are masked (storage.py hands it mask_text with the URL)."""
    from automl.errors import StorageError
    from automl.search import storage

    class Lost:
        def ping(self) -> None:
            pass

        def get_all_studies(self) -> list[object]:
            raise ConnectionError(f"host 'Wxyz9' unreachable; auth Abcd/Wxyz9; {SECRET}")

    monkeypatch.setattr(storage, "BatchedJournalRedisBackend", lambda url: Lost())
    monkeypatch.setattr(storage, "JournalStorage", lambda backend: backend)
    opened = make_storage(
        f"redis://:Abcd%2FWxyz9@h:6379/0?password={SECRET}", retry_s=0.0, cached=False
    )
    with pytest.raises(StorageError) as info:
        opened.get_all_studies()
    assert "unreachable" in info.value.message
    assert (
        "Wxyz9" not in info.value.message
        and "Abcd" not in info.value.message
        and SECRET not in info.value.message
    )
