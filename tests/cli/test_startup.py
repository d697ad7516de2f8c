"""The command line imports a command's module only when that command runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from automl.cli import COMMANDS, build_parser


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_help_imports_no_command_and_nothing_heavy() -> None:
    loaded = _modules_after(
        "import contextlib, io\nfrom automl.cli import main\nwith "
        "contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()): "
        "main(['--help'])"
    )
    heavy = {m for m in loaded if m.split(".")[0] in ("torch", "optuna", "celery", "sklearn")}
    commands = {m for m in loaded if m.startswith("automl.cli.")}
    assert not heavy, f"automl --help imported {sorted(heavy)[:5]}"
    assert not commands, f"automl --help imported {sorted(commands)}"


@pytest.mark.slow  # a fresh interpreter that imports the status command and Optuna
def test_status_imports_neither_torch_nor_celery_nor_the_coordinator() -> None:
    loaded = _modules_after(
        "import contextlib, io\nfrom automl.cli import main\nwith "
        "contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()): "
        "main(['status', '--help'])"
    )
    assert "automl.cli.status" in loaded
    assert not {m for m in loaded if m.split(".")[0] in ("torch", "celery", "plotly")}
    assert not {m for m in loaded if m.startswith(("automl.coordinator", "automl.report.progress"))}


def test_every_command_builds_its_arguments() -> None:
    parser = build_parser()
    for name in COMMANDS:
        args = parser.parse_args(_minimal_argv(name))
        assert callable(args.handler), name


def _minimal_argv(name: str) -> list[str]:
    return {
        "run": ["run", "s.yaml"],
        "validate": ["validate", "s.yaml"],
        "status": ["status"],
        "report": ["report"],
        "export": ["export", "-o", "out"],
        "predict": ["predict", "out", "d.csv"],
        "dashboard": ["dashboard"],
        "worker": ["worker"],
    }[name]


def test_the_command_exits_with_its_code_and_spares_the_collector_its_objects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    import automl.cli as cli

    monkeypatch.setattr(cli, "main", lambda: 3)
    try:
        with pytest.raises(SystemExit) as exited:
            cli.entry()
        assert exited.value.code == 3
        assert gc.get_freeze_count() > 0  # Python's exit collects none of what the command made
    finally:
        gc.unfreeze()


def test_a_storage_whose_tables_are_current_opens_without_alembic(tmp_path: Path) -> None:
    from automl.search.storage import make_storage

    url = f"sqlite:///{tmp_path / 'study.db'}"
    make_storage(url, cached=False)  # a new database: created and stamped through Alembic here
    loaded = _modules_after(
        f"from automl.search.storage import make_storage\nmake_storage({url!r}).get_all_studies()"
    )
    assert "optuna.storages._rdb.models" in loaded  # it really opened an RDB storage
    assert not {m for m in loaded if m.split(".")[0] in ("alembic", "mako")}
