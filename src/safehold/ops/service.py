from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from safehold import migrate
from safehold.db import reading_connection
from safehold.runtime import Runtime


@dataclass(frozen=True)
class Readiness:
    database: bool
    migrations: bool
    detail: str

    @property
    def ready(self) -> bool:
        return self.database and self.migrations


def readiness(runtime: Runtime) -> Readiness:
    """Ready means: the database answers and its schema is at the newest migration."""
    try:
        with reading_connection(runtime.engine) as conn:
            conn.execute(text("SELECT 1"))
        current = migrate.current_revision(runtime.engine)
    except SQLAlchemyError as exc:
        return Readiness(False, False, f"database unreachable ({type(exc).__name__})")
    head = migrate.head_revision()
    if current != head:
        return Readiness(True, False, f"database at migration {current}, code expects {head}")
    return Readiness(True, True, "ok")
