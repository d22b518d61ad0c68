"""The statements that write event rows, with the values given to the database driver as it
takes them: not through SQLAlchemy's types, whose per-value conversions were most of an
insert's cost (decision 0015), now that the benchmark's ceiling is a raw insert too.

* PostgreSQL: ``COPY`` (psycopg adapts the values in C) straight into ``events`` under a
  savepoint; where the batch holds an event stored before (a retry), the unique key refuses
  that ``COPY``, and the batch is copied into a per-connection temporary table instead, then
  one ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING`` into ``events``.
* SQLite: multi-row ``INSERT … VALUES … ON CONFLICT DO NOTHING RETURNING`` into a month
  table, the values written as SQLAlchemy writes them (``safehold.db.UTCDateTime``: UTC
  ``YYYY-MM-DD HH:MM:SS.ffffff``; ``Uuid``: 32 hex digits; ``Date``: ISO; ``JSON``: text),
  which ``tests/integration/events`` read back through the ORM types.

Both return the stored keys as integers (``UUID.int`` of owner and event id).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from psycopg.errors import UniqueViolation

from safehold.events import rules

STAGING = "events_staging"  # per connection (temporary), emptied at every commit
SQLITE_ROWS = 1_000  # rows per INSERT: 23 values each, under SQLite's 32,766 variables


def postgres(
    raw: Any, parent: str, columns: Sequence[str], key: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
) -> set[tuple[int, int]]:  # fmt: skip
    """Most batches hold no event stored before: they are copied straight into ``parent``
    (what the benchmark's ceiling does), all of them new. A batch with a retried event
    makes that ``COPY`` fail at the unique key; it is undone (a savepoint) and the batch
    goes the keyed way, which stores only the new ones."""
    names = ", ".join(columns)
    with raw.cursor() as cursor:
        cursor.execute("SAVEPOINT events_copy")
        try:
            with cursor.copy(f"COPY {parent} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(tuple(_copy_value(row.get(c)) for c in columns))
        except UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT events_copy")
        else:
            cursor.execute("RELEASE SAVEPOINT events_copy")
            return {(row["owner_id"].int, row["event_id"].int) for row in rows}
        return _postgres_keyed(cursor, parent, columns, key, rows)


def _postgres_keyed(
    cursor: Any, parent: str, columns: Sequence[str], key: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
) -> set[tuple[int, int]]:  # fmt: skip
    """``COPY`` into a per-connection staging table, then one ``INSERT … SELECT … ON
    CONFLICT DO NOTHING RETURNING``: the keys of the rows that were new."""
    names, keys = ", ".join(columns), ", ".join(key)
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING} (LIKE {parent}) ON COMMIT DELETE ROWS"
    )
    with cursor.copy(f"COPY {STAGING} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(tuple(_copy_value(row.get(c)) for c in columns))
    cursor.execute(
        f"INSERT INTO {parent} ({names}) SELECT {names} FROM {STAGING} "  # noqa: S608 — constants
        f"ORDER BY {keys} ON CONFLICT ({keys}) DO NOTHING RETURNING owner_id, event_id"
    )
    stored = {(r[0].int, r[1].int) for r in cursor.fetchall()}
    cursor.execute(f"DELETE FROM {STAGING}")  # noqa: S608 — a constant
    return stored


def _copy_value(value: Any) -> Any:
    if isinstance(value, dict):
        return rules.compact_json(value)
    return value


def sqlite(
    raw: Any, table: str, columns: Sequence[str], key: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
) -> set[tuple[int, int]]:  # fmt: skip
    convert = [(c, _SQLITE.get(c, _same)) for c in columns]
    marks = "(" + ", ".join("?" for _ in columns) + ")"
    stored: set[tuple[int, int]] = set()
    cursor = raw.cursor()
    try:
        for first in range(0, len(rows), SQLITE_ROWS):
            chunk = rows[first : first + SQLITE_ROWS]
            values = [
                None if (v := row.get(c)) is None else to(v) for row in chunk for c, to in convert
            ]
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES "  # noqa: S608 — constants
                f"{', '.join([marks] * len(chunk))} ON CONFLICT ({', '.join(key)}) DO NOTHING "
                "RETURNING owner_id, event_id",
                values,
            )
            stored.update((int(o, 16), int(e, 16)) for o, e in cursor.fetchall())
    finally:
        cursor.close()
    return stored


def _same(value: Any) -> Any:
    return value


def _uuid(value: uuid.UUID) -> str:
    return value.hex


def _time(value: datetime) -> str:
    if value.tzinfo is not UTC:  # most times are UTC already: no conversion for them
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _date(value: date) -> str:
    return value.isoformat()


def _json(value: Any) -> str:
    return json.dumps(value)


def _bool(value: bool) -> int:
    return int(value)


_SQLITE: dict[str, Callable[[Any], Any]] = {
    "event_id": _uuid,
    "subject_id": _uuid,
    "owner_id": _uuid,
    "occurred_at": _time,
    "client_time": _time,
    "received_at": _time,
    "month": _date,
    "properties": _json,
    "is_bot": _bool,
    "ip_whole": _bool,
}
