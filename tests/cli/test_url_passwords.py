"""Every command that takes a storage or broker URL refuses a password holding ``@ / ? #``
unencoded: exit 2, one line naming the field and the percent-encoding, no piece of the password
shown, and nothing connected to or written first (the hosts below listen on nothing: a command
that tried them would exit 1 with "cannot open storage" or "cannot reach the broker")."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl.cli import main
from automl.cli.common import BROKER_ENV, STORAGE_ENV
from tests.conftest import tiny_yaml

HEAD, TAIL = "Abcd", "Wxyz9"  # the two pieces of every password here, each long enough to be masked
ENCODED = {"@": "%40", "/": "%2F", "?": "%3F", "#": "%23"}


def _postgres(separator: str) -> str:
    return f"postgresql://u:{HEAD}{separator}{TAIL}@127.0.0.1:1/x"


def _redis(separator: str) -> str:
    return f"redis://:{HEAD}{separator}{TAIL}@127.0.0.1:1/0"


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A study file whose own storage (a journal file) is fine; the environment is clean."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    monkeypatch.delenv(BROKER_ENV, raising=False)
    path = tmp_path / "s.yaml"
    path.write_text(tiny_yaml("s", str(tmp_path / "s.journal")))
    return path


def _refused(
    capsys: pytest.CaptureFixture[str], argv: list[str], field: str, separator: str
) -> None:
    code = main(argv)
    out = capsys.readouterr()
    shown = out.out + out.err
    assert code == 2, shown
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    assert lines[0].startswith(f"error: {field}: "), lines[0]
    assert f"unencoded {separator!r}" in lines[0] and ENCODED[separator] in lines[0], lines[0]
    assert HEAD not in shown and TAIL not in shown, shown
    assert not list(Path.cwd().glob("*.journal")) and not list(Path.cwd().glob("*.db")), (
        "written before refusing"
    )


@pytest.mark.parametrize("separator", ["@", "/", "?", "#"])
@pytest.mark.parametrize("url", [_postgres, _redis], ids=["postgresql", "redis"])
def test_validate_refuses_each_separator(
    capsys: pytest.CaptureFixture[str], spec: Path, url, separator: str
) -> None:  # type: ignore[no-untyped-def]
    _refused(capsys, ["validate", str(spec), "--storage", url(separator)], "storage", separator)


@pytest.mark.parametrize(
    ("how", "separator"),
    [("flag", "/"), ("study file", "?"), ("environment", "#"), ("flag", "@")],
)  # fmt: skip
def test_run_refuses_a_storage_url_from_the_flag_the_file_or_the_environment(
    capsys: pytest.CaptureFixture[str],
    spec: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    separator: str,
) -> None:
    url = _postgres(separator) if separator in "/#" else _redis(separator)
    argv = ["run", str(spec)]
    if how == "flag":
        argv += ["--storage", url]
    elif how == "study file":
        spec.write_text(tiny_yaml("s", f"'{url}'"))
    else:
        monkeypatch.setenv(STORAGE_ENV, url)
    _refused(capsys, argv, "storage", separator)


@pytest.mark.parametrize(("how", "separator"), [("environment", "/"), ("study file", "#")])
def test_run_refuses_a_broker_url_before_it_opens_the_storage(
    capsys: pytest.CaptureFixture[str],
    spec: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    separator: str,
) -> None:
    if how == "environment":
        monkeypatch.setenv(BROKER_ENV, _redis(separator))
    else:
        text = spec.read_text().replace(
            "execution: {", f"execution: {{broker: '{_redis(separator)}', "
        )
        spec.write_text(text)
    _refused(capsys, ["run", str(spec), "--backend", "celery"], "execution.broker", separator)


@pytest.mark.parametrize(
    ("command", "separator"),
    [(["status", "--study", "s"], "/"), (["report", "--study", "s", "-o", "r.html"], "?"),
     (["export", "--study", "s", "-o", "out"], "#"), (["dashboard"], "@")],
    ids=["status", "report", "export", "dashboard"],
)  # fmt: skip
def test_commands_that_read_a_study_refuse_the_storage_flag(
    capsys: pytest.CaptureFixture[str], spec: Path, command: list[str], separator: str
) -> None:
    _refused(capsys, [*command, "--storage", _postgres(separator)], "storage", separator)
    assert not Path("r.html").exists() and not Path("out").exists()


@pytest.mark.parametrize(
    "command", [["status", "--study", "s"], ["report", "--study", "s"], ["dashboard"]]
)
def test_commands_that_read_a_study_refuse_the_storage_environment(
    capsys: pytest.CaptureFixture[str],
    spec: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    monkeypatch.setenv(STORAGE_ENV, _redis("/"))
    _refused(capsys, command, "storage", "/")


def test_status_of_a_study_file_refuses_the_storage_environment(
    capsys: pytest.CaptureFixture[str], spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STORAGE_ENV, _postgres("?"))
    _refused(capsys, ["status", str(spec)], "storage", "?")


@pytest.mark.parametrize(
    ("argv", "env", "field", "separator"),
    [
        (["--broker", _redis("/"), "--storage", "w.journal"], {}, "--broker", "/"),
        (["--storage", "w.journal"], {BROKER_ENV: _redis("#")}, BROKER_ENV, "#"),
        (["--broker", "redis://127.0.0.1:1/0", "--storage", _postgres("?")], {}, "storage", "?"),
        (["--broker", "redis://127.0.0.1:1/0"], {STORAGE_ENV: _redis("@")}, "storage", "@"),
    ],
    ids=["broker flag", "broker environment", "storage flag", "storage environment"],
)
def test_worker_refuses_its_broker_and_storage_urls(
    capsys: pytest.CaptureFixture[str], spec: Path, monkeypatch: pytest.MonkeyPatch,
    argv: list[str], env: dict[str, str], field: str, separator: str,
) -> None:  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _refused(capsys, ["worker", *argv], field, separator)


def test_a_url_a_driver_reads_as_written_is_not_refused(
    capsys: pytest.CaptureFixture[str], spec: Path
) -> None:
    """The same command with the "@" in the query string: it gets as far as the connection."""
    code = main(
        ["status", "--storage", "postgresql://u:pw@127.0.0.1:1/x?options=-c%20a@b", "--study", "s"]
    )
    out = capsys.readouterr()
    assert code == 1 and "cannot open storage postgresql://u:***@127.0.0.1:1/x" in out.err, out.err
