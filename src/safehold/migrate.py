"""Alembic, driven from code: the same migrations for SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from safehold.db import UNMANAGED_TABLES, reading_connection

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
VERSION_TABLE = "alembic_version"  # Alembic's default; migrations/env.py does not change it


AUDIT_KEY_ATTRIBUTE = "audit_key"  # what migration 0026 seals the legacy audit chain with


def alembic_config(engine: Engine, *, audit_key: bytes | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    if audit_key is not None:
        config.attributes[AUDIT_KEY_ATTRIBUTE] = audit_key
    return config


def head_revision() -> str | None:
    """The newest revision; several heads (parallel branches not yet merged) are joined."""
    heads = ScriptDirectory(str(MIGRATIONS)).get_heads()
    return ",".join(sorted(heads)) or None


def current_revision(engine: Engine) -> str | None:
    """The database's revision(s), read from Alembic's version table directly: this runs on
    every ``/readyz`` probe, and ``MigrationContext.configure`` logs two INFO lines ("Context
    impl …", "Will assume … DDL") each time it is made."""
    with reading_connection(engine) as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        heads = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()  # noqa: S608 - a constant
        return ",".join(sorted(heads)) or None


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def upgrade(engine: Engine, revision: str = "heads", *, audit_key: bytes | None = None) -> None:
    """Apply migrations. ``audit_key`` seals an existing unkeyed audit chain (migration 0026
    refuses to run without it when the log holds entries)."""
    command.upgrade(alembic_config(engine, audit_key=audit_key), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:  # noqa: ARG001
    """Alembic's filter: skip tables the models register as created at run time."""
    if type_ != "table" or name is None:
        return True
    from safehold.models import Base

    patterns = Base.metadata.info.get(UNMANAGED_TABLES, ())
    return not any(re.fullmatch(pattern, name) for pattern in patterns)


def pending_model_changes(engine: Engine) -> list[object]:
    """What autogenerate would add: empty when the models and the migrations agree."""
    from alembic.autogenerate import compare_metadata

    from safehold.models import Base

    with engine.connect() as conn:
        opts = {"render_as_batch": True, "include_name": include_name}
        context = MigrationContext.configure(conn, opts=opts)
        return list(compare_metadata(context, Base.metadata))
