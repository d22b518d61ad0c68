"""Alembic environment: Safehold passes its engine in ``config.attributes``.

On SQLite the migrations run with foreign keys off, as SQLite requires for a table rebuilt
in batch mode while other tables point at it (its ``DROP TABLE`` would otherwise count every
pointing row as broken, ``subjects`` in migration 0040); the pragma works only outside a
transaction. Before the migrations' transaction commits, ``PRAGMA foreign_key_check`` must
find nothing, so the keys hold afterwards exactly as if they had been on.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from safehold.migrate import include_name
from safehold.models import Base

config = context.config
engine = config.attributes["engine"]


def _foreign_keys(connection: Any, on: bool) -> None:
    """Outside any transaction: straight to the driver (SQLAlchemy would begin one)."""
    connection.connection.driver_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _foreign_keys(connection, on=False)
    try:
        with connection.begin():
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=sqlite,
                compare_type=True,
                include_name=include_name,  # skip tables made at run time (event partitions)
            )
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migrations left broken foreign keys: {broken[:5]}")
    finally:
        if sqlite:
            _foreign_keys(connection, on=True)
