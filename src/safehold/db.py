"""Engine, declarative base, sessions and the portable column types.

One code path serves SQLite (embedded, one machine) and PostgreSQL (production). Callers own
transactions: a request or a job opens one session, services only ``flush()``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    DateTime,
    Engine,
    MetaData,
    Uuid,
    create_engine,
    event,
)
from sqlalchemy.engine import URL
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from safehold.dbtimeouts import DatabaseTimeouts, connect_args
from safehold.dbtimeouts import install as install_timeouts

SQLITE_BUSY_TIMEOUT_MS = 5_000

# Stable constraint names, so Alembic migrations are identical on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: Safehold stores UTC-aware times only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Key in ``Base.metadata.info``: regular expressions naming tables a feature creates at run
# time (e.g. the month partitions of events); migrate's drift checks leave them alone. Here,
# not in migrate, so a feature's models need not import Alembic.
UNMANAGED_TABLES = "safehold.unmanaged_tables"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 — SQLAlchemy reads this class attribute
        datetime: UTCDateTime(),
        uuid.UUID: Uuid(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
        list[dict[str, Any]]: JSON(),
    }


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


# Execution option: a transaction that only reads (a health probe, a page of the policy)
# may start deferred and so never waits for a writer (WAL readers see the last commit).
SQLITE_READ_ONLY = "safehold_sqlite_read_only"


def _sqlite_begin(conn: Any) -> None:
    """Start every SQLite transaction with ``BEGIN IMMEDIATE``: it takes the write lock up
    front, waiting up to the busy timeout for another writer to finish.

    A deferred ``BEGIN`` takes no lock; a transaction that has read and then writes after
    another connection committed fails at once with "database is locked" (SQLite cannot let
    it write on a stale snapshot, so the busy timeout does not apply). Nearly every Safehold
    transaction writes (each audited read appends its entry), and writers are serialised by
    SQLite anyway, so taking the lock first costs nothing and turns those failures into a
    short wait. Transactions marked with :data:`SQLITE_READ_ONLY` stay deferred."""
    read_only = conn.get_execution_options().get(SQLITE_READ_ONLY, False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_engine(url: URL, *, timeouts: DatabaseTimeouts | None = None, **kwargs: Any) -> Engine:
    """Create an engine with the per-backend settings Safehold relies on. On PostgreSQL,
    ``timeouts`` bound connecting, waiting for the pool and (for HTTP requests) statements
    (``safehold.dbtimeouts``)."""
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "connect")
        def _no_pysqlite_autobegin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        event.listen(engine, "begin", _sqlite_begin)
        return engine
    timeouts = timeouts or DatabaseTimeouts()
    kwargs = {"pool_timeout": timeouts.pool, **kwargs}
    kwargs["connect_args"] = {**connect_args(timeouts), **kwargs.get("connect_args", {})}
    engine = create_engine(url, pool_pre_ping=True, **kwargs)
    install_timeouts(engine)
    return engine


AUDIT_KEY = "safehold.audit_key"  # the Session.info entry holding the audit key (access.audit)


def make_session_factory(engine: Engine, *, audit_key: object = None) -> sessionmaker[Session]:
    """Sessions on ``engine``; ``audit_key`` (a key, or ``access.audit_keys.AuditKeys``)
    travels with each (a Runtime adds its own)."""
    info = {} if audit_key is None else {AUDIT_KEY: audit_key}
    return sessionmaker(bind=engine, expire_on_commit=False, info=info)


def reading_only(session: Session) -> None:
    """Mark the session's transaction as one that only reads (call before its first query):
    on SQLite it starts deferred, so it never queues behind a writer."""
    session.connection(execution_options={SQLITE_READ_ONLY: True})


def reading_connection(engine: Engine) -> Connection:
    """A connection whose transactions only read (or run a pragma that must not sit inside a
    write transaction, like a WAL checkpoint): on SQLite they start deferred."""
    return engine.connect().execution_options(**{SQLITE_READ_ONLY: True})


def checkpoint_wal(sessions: sessionmaker[Session]) -> dict[str, Any]:
    """SQLite: move the WAL into the database file and truncate it, so deleted rows' old page
    images leave no copy in the log (``secure_delete`` zeroes them in the file). Run outside
    any transaction, after the deletions committed. Returns what happened."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine):
        return {"done": False, "why": "the session is not bound to an engine"}
    if bind.dialect.name != "sqlite":
        return {"done": False, "why": "PostgreSQL: dead rows go at VACUUM (operations.md)"}
    with reading_connection(bind) as conn:
        busy, log_frames, moved = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        conn.commit()
    return {"done": busy == 0, "log_frames": log_frames, "checkpointed": moved}


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session
