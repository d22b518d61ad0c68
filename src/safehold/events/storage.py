"""Where events are stored: one partition per UTC month, so retention drops a month at once.

* PostgreSQL: ``events`` is a native range-partitioned table (migrations 0005, 0030); each
  month is ``events_YYYYMM``, a ``PARTITION OF events``. Inserts: ``COPY`` into a temporary
  table, then one ``INSERT … SELECT`` into the parent (``writes``).
* SQLite: each month is its own table ``events_YYYYMM`` with the same columns and indexes,
  and ``events`` is a view (``UNION ALL`` of the months) rebuilt whenever a month is added or
  dropped. Inserts: multi-row ``INSERT``s per month table, in the batch's transaction.

Either way ``EVENTS`` (below) reads every month, every month has an index on (person, time)
for fast per-person erasure, and ``event_partitions`` registers the months.

The partition key is ``month``, the event's *filing month* (``rules.file_event``: the
month of the device's timestamp as sent), which is the same on every try of an event, and
each month's unique key (``owner_id``, ``month``, ``event_id``) is what makes a retry a
duplicate: no second table. ``owner_id`` is who sent the event — its ``subject_id`` as sent,
or a UUID made from the device's blind index for an anonymous event (:func:`owner_of`) — so
it never changes, not even when a sign-in makes the anonymous event a person's, and it is
the column a distributed PostgreSQL shards the events by (docs/scaling.md). Creating a
month happens inside the writing transaction (so a rollback takes it back too); the
registry insert that starts each batch serialises creators of the same month.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import date, datetime
from typing import Any

import uuid6
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Delete,
    Engine,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Update,
    Uuid,
    delete,
    select,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from safehold.db import UTCDateTime
from safehold.events import rules, writes
from safehold.events.models import EventPartition

PARENT = "events"
_META = MetaData()  # not Base.metadata: these tables are made at run time, not by Alembic


def _columns() -> list[Column[Any]]:
    return [
        Column("event_id", Uuid(), nullable=False),
        Column("occurred_at", UTCDateTime(), nullable=False),  # corrected; inside ``month``
        Column("client_time", UTCDateTime()),  # the device's own clock, as sent
        Column("received_at", UTCDateTime(), nullable=False),
        Column("subject_id", Uuid()),  # null: anonymous (not yet signed in)
        Column("anonymous_index", String(64)),  # blind index of the anonymous id
        Column("name", String(64), nullable=False),
        Column("category", String(64), nullable=False),  # as the policy said when stored
        Column("properties", JSON()),  # the policy's dimensions, plain
        Column("personal", LargeBinary()),  # personal properties, encrypted (JSON inside)
        Column("retention_class", String(96)),  # of ``personal``'s data key
        Column("device_type", String(16)),
        Column("os_family", String(40)),
        Column("os_major", String(16)),
        Column("browser_family", String(40)),
        Column("browser_major", String(16)),
        Column("is_bot", Boolean(), nullable=False),
        Column("ip", String(64)),  # plain: written before migration 0043 only (ips.py)
        Column("month", Date(), nullable=False),  # the partition key: the filing month
        Column("owner_id", Uuid(), nullable=False),  # who sent it (owner_of): never changes
        # A known person's address, sealed under their ``network_ip@YYYY-MM`` key, its key
        # class, and whether it is whole (``events.ip.mode: full``) — ``events.ips``, 0043.
        Column("ip_sealed", LargeBinary()),
        Column("ip_class", String(96)),
        Column("ip_whole", Boolean()),
    ]


KEY = ("owner_id", "month", "event_id")  # the key (PostgreSQL: primary): a retry is a duplicate


def owner_of(subject_id: uuid.UUID | None, anonymous_index: str | None) -> uuid.UUID:
    """The key an event is stored under: the ``subject_id`` it was sent with, else the first
    128 bits of its device's blind index (an HMAC, never the anonymous id itself) as a UUID —
    what migration 0030 computes in SQL for the events it found."""
    if subject_id is not None:
        return subject_id
    assert anonymous_index is not None  # intake refuses an event with neither
    return uuid.UUID(anonymous_index[:32])


COLUMN_NAMES = tuple(c.name for c in _columns())
EVENTS = Table(PARENT, _META, *_columns())  # the parent (PostgreSQL) or the view (SQLite)
_MONTHS: dict[str, Table] = {}
_PARTITIONS: Table = EventPartition.__table__  # type: ignore[assignment]


def month_table(name: str) -> Table:
    """The Core table of one month (its DDL on SQLite; its rows on both backends)."""
    if name not in _MONTHS:
        table = Table(name, _META, *_columns())
        Index(f"uq_{name}_key", *(table.c[c] for c in KEY), unique=True)
        Index(f"ix_{name}_subject_time", table.c.subject_id, table.c.occurred_at)
        Index(
            f"ix_{name}_anonymous",
            table.c.anonymous_index,
            sqlite_where=table.c.anonymous_index.isnot(None),
        )
        _MONTHS[name] = table
    return _MONTHS[name]


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


# --- the months ---------------------------------------------------------------------------


def ensure_months(session: Session, months: Iterable[date], now: datetime) -> list[date]:
    """Make sure every month has its partition; returns the months created now.

    One ``INSERT … ON CONFLICT DO NOTHING RETURNING`` into the registry decides which months
    are new (a concurrent creator of the same month waits on its row, then sees it exists).
    It is a write, so on SQLite it also takes the write lock before the batch reads anything.
    """
    wanted = sorted(set(months))
    if not wanted:
        return []
    rows = [{"name": rules.partition_name(m), "month": m, "created_at": now} for m in wanted]
    dialect = sqlite if _is_sqlite(session) else postgresql
    statement = (
        dialect.insert(_PARTITIONS)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(_PARTITIONS.c.month)
    )
    # Core on the session's connection: this runs once per batch, the ORM adds nothing here.
    created = sorted(session.connection().execute(statement).scalars())
    if not created:
        return []
    conn = session.connection()
    if _is_sqlite(session):
        for month in created:
            month_table(rules.partition_name(month)).create(conn)
        _rebuild_view(session)
    else:
        for month in created:
            conn.exec_driver_sql(
                f"CREATE TABLE IF NOT EXISTS {rules.partition_name(month)} PARTITION OF {PARENT} "
                f"FOR VALUES FROM ('{month.isoformat()}') TO ('{rules.next_month(month)}')"
            )
    return created


def months(session: Session) -> list[date]:
    """Every month that has a partition, oldest first."""
    return list(session.scalars(select(EventPartition.month).order_by(EventPartition.month)))


def drop_month(session: Session, month: date) -> bool:
    """Drop a whole month of events at once (retention); False if it had no partition."""
    name = rules.partition_name(month)
    gone = session.execute(
        delete(EventPartition).where(EventPartition.name == name).returning(EventPartition.name)
    ).first()
    if gone is None:
        return False
    session.connection().exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    if _is_sqlite(session):
        _rebuild_view(session)
    return True


def _rebuild_view(session: Session) -> None:
    """SQLite: ``events`` = UNION ALL of the month tables (an empty select when none)."""
    names = [rules.partition_name(m) for m in months(session)]
    columns = ", ".join(COLUMN_NAMES)
    if names:
        # Names come from partition_name() (digits only), never from a request.
        body = " UNION ALL ".join(f"SELECT {columns} FROM {name}" for name in names)  # noqa: S608
    else:
        body = "SELECT " + ", ".join(f"NULL AS {c}" for c in COLUMN_NAMES) + " LIMIT 0"
    conn = session.connection()
    conn.exec_driver_sql(f"DROP VIEW IF EXISTS {PARENT}")
    conn.exec_driver_sql(f"CREATE VIEW {PARENT} AS {body}")


# --- rows ---------------------------------------------------------------------------------


def insert_rows(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[tuple[int, int]]:
    """Store the events whose key (:data:`KEY`) is new, each in the partition of its
    ``month`` (see :func:`ensure_months`); returns the (owner, event id) of those stored, as
    integers (``UUID.int``) — the others were received before (duplicates) and are left as
    they were.

    Rows go in key order, so two batches sharing events wait for each other, never deadlock.
    The values go to the driver as it takes them, not through SQLAlchemy's types (``writes``).
    PostgreSQL: ``COPY`` into a temporary table, then one ``INSERT … SELECT … ON CONFLICT DO
    NOTHING RETURNING`` into the parent (the server routes rows to their months).
    SQLite: multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` per month table."""
    if not rows:
        return set()
    rows = [_keyed(r) for r in rows]
    ordered = sorted(rows, key=lambda r: (r["owner_id"].int, r["month"], r["event_id"].int))
    raw = session.connection().connection.driver_connection
    if not _is_sqlite(session):
        return writes.postgres(raw, PARENT, COLUMN_NAMES, KEY, ordered)
    by_month: dict[date, list[Mapping[str, Any]]] = {}
    for row in ordered:
        by_month.setdefault(row["month"], []).append(row)
    stored: set[tuple[int, int]] = set()
    for month, chunk in sorted(by_month.items()):
        stored |= writes.sqlite(raw, rules.partition_name(month), COLUMN_NAMES, KEY, chunk)
    return stored


def _keyed(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """A row with its key: ingestion gives ``month`` and ``owner_id``; rows written by other
    code (benchmarks, tests planting events) get the month of their time and their sender."""
    if "month" in row and "owner_id" in row:
        return row
    return {
        **row,
        "month": row.get("month") or rules.month_start(row["occurred_at"]),
        "owner_id": row.get("owner_id") or owner_of(row["subject_id"], row["anonymous_index"]),
    }


def stored_keys(
    session: Session, keys: Iterable[tuple[uuid.UUID, date, uuid.UUID]]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """Which of these (owner, month, event id) keys are stored: (owner, event id) of each."""
    by_month: dict[date, list[tuple[uuid.UUID, uuid.UUID]]] = {}
    for owner, month, event_id in keys:
        by_month.setdefault(month, []).append((owner, event_id))
    if not _is_sqlite(session):
        wanted = [(o, m, e) for m, pairs in by_month.items() for o, e in pairs]
        if not wanted:
            return set()
        found = session.execute(
            select(EVENTS.c.owner_id, EVENTS.c.event_id).where(
                tuple_(EVENTS.c.owner_id, EVENTS.c.month, EVENTS.c.event_id).in_(wanted)
            )
        )
        return {(r[0], r[1]) for r in found}
    stored: set[tuple[uuid.UUID, uuid.UUID]] = set()
    for month in set(by_month) & set(months(session)):
        table = month_table(rules.partition_name(month))
        found = session.execute(
            select(table.c.owner_id, table.c.event_id).where(
                tuple_(table.c.owner_id, table.c.event_id).in_(by_month[month])
            )
        )
        stored.update((r[0], r[1]) for r in found)
    return stored


def for_each_month(
    session: Session,
    build: Callable[[Table], Update | Delete],
    *,
    since: datetime | None = None,
) -> int:
    """Run an UPDATE or DELETE built for a table over every month (from ``since`` on):
    once on the parent with PostgreSQL (which prunes partitions), per month table on SQLite.
    Returns the rows affected."""
    return sum(_rowcount(session, statement) for statement in _each_month(session, build, since))


def returned_each_month(
    session: Session, build: Callable[[Table], Update | Delete], *, since: datetime | None = None
) -> list[tuple[Any, ...]]:
    """:func:`for_each_month` for a statement with RETURNING: the rows it returned."""
    return [
        tuple(row)
        for statement in _each_month(session, build, since)
        for row in session.execute(statement)
    ]


def _each_month(
    session: Session, build: Callable[[Table], Update | Delete], since: datetime | None
) -> Iterator[Update | Delete]:
    if not _is_sqlite(session):
        yield build(EVENTS)
        return
    first = rules.month_start(since) if since is not None else None
    for month in months(session):
        if first is None or month >= first:
            yield build(month_table(rules.partition_name(month)))


def _rowcount(session: Session, statement: Update | Delete) -> int:
    result = session.execute(statement)
    return int(getattr(result, "rowcount", 0))


def new_event_id() -> uuid.UUID:
    """A time-ordered UUIDv7 for events sent without an id (RFC 9562)."""
    return uuid.UUID(bytes=uuid6.uuid7().bytes)


_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


def one_writer(session: Session) -> AbstractContextManager[object]:
    """SQLite: one batch writes at a time in this process, handed over at once instead of
    through SQLite's busy-wait sleeps; PostgreSQL: no lock (row locks order writers)."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return nullcontext()
    engine = bind if isinstance(bind, Engine) else bind.engine
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(engine, threading.Lock())
