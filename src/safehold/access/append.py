"""One audit entry written through the database driver, with its values as the driver takes
them: every audited access writes one, and SQLAlchemy's statement execution (compiled-cache
look-up, per-value type processing, result wrapping) cost more than the INSERT itself
(decision 0030, "Cost"). The same way ``events/writes.py`` writes events.

The values are those SQLAlchemy's types would write (``safehold.db.UTCDateTime`` on SQLite:
UTC ``YYYY-MM-DD HH:MM:SS.ffffff``; ``Uuid``: 32 hex digits; ``JSON``: text), so the ORM reads
the entries back unchanged (``tests/integration/test_audit_log.py`` reads them so). A driver
error is raised as SQLAlchemy's (``IntegrityError`` for an entry that does not extend its
chain), as if the statement had gone through it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Json
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

COLUMNS = (
    "chain", "position", "at", "actor", "action", "subject_id", "categories", "purpose",
    "outcome", "request_id", "prev_hash", "hash", "key_version",
)  # fmt: skip
_NAMES = ", ".join(COLUMNS)
_SQLITE_MARKS = ", ".join("?" for _ in COLUMNS)
_POSTGRES_MARKS = ", ".join("%s" for _ in COLUMNS)
SQLITE = f"INSERT INTO audit_entries ({_NAMES}) VALUES ({_SQLITE_MARKS})"  # noqa: S608 — constants
POSTGRES = f"INSERT INTO audit_entries ({_NAMES}) VALUES ({_POSTGRES_MARKS}) RETURNING seq"  # noqa: S608


def one(conn: Connection, row: Mapping[str, Any]) -> int:
    """Insert ``row`` (the entry's columns) in ``conn``'s transaction; its ``seq``."""
    raw = conn.connection.driver_connection
    postgres = conn.dialect.name == "postgresql"
    statement = POSTGRES if postgres else SQLITE
    try:
        if postgres:
            return _postgres(raw, row)
        return _sqlite(raw, row)
    except conn.dialect.loaded_dbapi.Error as exc:
        # Without the values: they name a person (the subject id).
        raise DBAPIError.instance(
            statement, None, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
        ) from exc


def _postgres(raw: Any, row: Mapping[str, Any]) -> int:
    values = [row[c] for c in COLUMNS]
    values[COLUMNS.index("categories")] = Json(row["categories"])
    with raw.cursor() as cursor:
        cursor.execute(POSTGRES, values)
        found = cursor.fetchone()
    return int(found[0])


def _sqlite(raw: Any, row: Mapping[str, Any]) -> int:
    subject: uuid.UUID | None = row["subject_id"]
    at: datetime = row["at"]
    values = [row[c] for c in COLUMNS]
    values[COLUMNS.index("at")] = (
        at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    )
    values[COLUMNS.index("subject_id")] = subject.hex if subject is not None else None
    values[COLUMNS.index("categories")] = json.dumps(row["categories"])
    cursor = raw.cursor()
    try:
        cursor.execute(SQLITE, values)
        return int(cursor.lastrowid)
    finally:
        cursor.close()
