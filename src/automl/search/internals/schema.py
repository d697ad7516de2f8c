"""An RDB storage opened without Alembic when its schema is already current.

Every ``RDBStorage(...)`` checks the revision of its tables through Alembic: it imports Alembic
(with Mako and Pygments) and reads Optuna's migration scripts from disk, about 0.17 s of every
process that opens a PostgreSQL or SQLite storage (``automl run`` before its first trial,
``automl status``, each worker), whatever the answer. When the tables stand at the head
revision this Optuna knows, one query of Alembic's version table gives the same answer. Any other
case (a new database to stamp, tables an older Optuna made) goes through Optuna's own check,
Alembic and all, with its own errors. Checked against Optuna 5.1.0.
"""

from __future__ import annotations

import threading
from typing import Any

from optuna.storages import RDBStorage

# The head of Optuna 5.1.0's migrations (a guard compares it with Optuna's own answer).
HEAD_REVISION = "v3.2.0.a"

_patching = threading.Lock()


def open_rdb(url: str, engine_kwargs: dict[str, Any]) -> RDBStorage:
    """``RDBStorage(url, engine_kwargs=engine_kwargs)``, Optuna's constructor unchanged, with
    its schema check answered by one query when the tables stand at :data:`HEAD_REVISION`.
    Relies on ``optuna.storages._rdb.storage._VersionManager``, built by ``RDBStorage.__init__``,
    whose ``_init_alembic`` and ``check_table_schema_compatibility`` are all that touch Alembic
    there (Optuna 5.1.0)."""
    from optuna.storages._rdb import storage as module

    with _patching:
        real = module._VersionManager
        setattr(module, "_VersionManager", _quick(real))  # noqa: B010 - for this constructor only
        try:
            return RDBStorage(url, engine_kwargs=engine_kwargs)
        finally:
            setattr(module, "_VersionManager", real)  # noqa: B010


def _quick(real: type) -> type:
    class QuickVersionManager(real):  # type: ignore[misc,valid-type]
        """Optuna's version manager, which asks Alembic only when the tables are not at the
        head revision."""

        def _init_alembic(self) -> None:
            if not at_head(self.engine):
                super()._init_alembic()  # stamps a new database, or an old one

        def check_table_schema_compatibility(self) -> None:
            if not at_head(self.engine):
                super().check_table_schema_compatibility()  # Optuna's error names the upgrade

    return QuickVersionManager


def at_head(engine: Any) -> bool:
    """Whether Alembic's version table holds exactly the head revision (False when there is no
    such table yet)."""
    from sqlalchemy import text

    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except Exception:  # noqa: BLE001 - no table yet (or any doubt): Optuna's own check decides
        return False
    return [tuple(row) for row in rows] == [(HEAD_REVISION,)]
