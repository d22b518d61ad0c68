"""Events keyed for idempotency (decision 0037): no more ``event_receipts``.

Each event gets its *filing month* ``month`` (the partition key: the month of the device's
timestamp as sent, else of a UUIDv7 id's time, else of receipt — the same on every try) and
``owner_id`` (the ``subject_id`` it was sent with, else the first 128 bits of its device's
blind index), and every month holds the key (owner_id, month, event_id) (on PostgreSQL the
table's primary key). Logins are keyed by (subject_id, id) and remember the sign-out that
closed them (``logout_id``); ``anonymous_links`` loses its foreign key (a look-up table,
``safehold.sharding``).

Every existing event keeps its idempotency:

* its filing month is worked out as ingestion now does (an unset clock or no time at all:
  its month stays); an event whose corrected time lies
  outside that month but within :data:`MOVE_LIMIT` of it is moved into it (its time moved to
  the month's nearest edge, as ingestion does within one day), so a retry finds it; one
  further away stays in its month, and a retry of it is refused (``clock_skew``);
* a login's id stays its key; a sign-out's id, known only from its receipt, is written into
  the login it closed (the login signed out at exactly the receipt's time);
* other receipts belonged to events deleted since (erasure, retention), whose retries are
  refused for the same reason.

The DDL is a frozen copy of ``safehold.events.storage``.

Revision ID: 0030
Revises: 0032
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0030"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_COLUMNS = (
    ("event_id", "uuid NOT NULL", "CHAR(32) NOT NULL"),
    ("occurred_at", "timestamptz NOT NULL", "DATETIME NOT NULL"),
    ("client_time", "timestamptz", "DATETIME"),
    ("received_at", "timestamptz NOT NULL", "DATETIME NOT NULL"),
    ("subject_id", "uuid", "CHAR(32)"),
    ("anonymous_index", "varchar(64)", "VARCHAR(64)"),
    ("name", "varchar(64) NOT NULL", "VARCHAR(64) NOT NULL"),
    ("category", "varchar(64) NOT NULL", "VARCHAR(64) NOT NULL"),
    ("properties", "json", "JSON"),
    ("personal", "bytea", "BLOB"),
    ("retention_class", "varchar(64)", "VARCHAR(64)"),
    ("device_type", "varchar(16)", "VARCHAR(16)"),
    ("os_family", "varchar(40)", "VARCHAR(40)"),
    ("os_major", "varchar(16)", "VARCHAR(16)"),
    ("browser_family", "varchar(40)", "VARCHAR(40)"),
    ("browser_major", "varchar(16)", "VARCHAR(16)"),
    ("is_bot", "boolean NOT NULL", "BOOLEAN NOT NULL"),
    ("ip", "varchar(64)", "VARCHAR(64)"),
)
NEW_COLUMNS = (
    *OLD_COLUMNS,
    ("month", "date NOT NULL", "DATE NOT NULL"),
    ("owner_id", "uuid NOT NULL", "CHAR(32) NOT NULL"),
)
OLD_NAMES = ", ".join(c[0] for c in OLD_COLUMNS)
NEW_NAMES = ", ".join(c[0] for c in NEW_COLUMNS)
KEY = "owner_id, month, event_id"
MOVE_LIMIT = timedelta(days=2)  # wider than ingestion's one day: no retry it accepts is missed
FUTURE_TOLERANCE = timedelta(minutes=5)
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _months() -> list[date]:
    rows = op.get_bind().execute(sa.text("SELECT month FROM event_partitions ORDER BY month"))
    return [m if isinstance(m, date) else date.fromisoformat(m) for m in rows.scalars()]


def _name(month: date) -> str:
    return f"events_{month.year:04d}{month.month:02d}"


def _next(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _month_of(moment: datetime) -> date:
    utc = moment.astimezone(UTC)
    return date(utc.year, utc.month, 1)


def _table(name: str, *, new: bool) -> sa.Table:
    """Core columns of a month table (or the PostgreSQL parent), for typed reads and writes."""
    utc = safehold.db.UTCDateTime
    columns = [
        sa.Column("event_id", sa.Uuid()),
        sa.Column("occurred_at", utc()),
        sa.Column("client_time", utc()),
        sa.Column("received_at", utc()),
        sa.Column("subject_id", sa.Uuid()),
        sa.Column("anonymous_index", sa.String(64)),
        sa.Column("name", sa.String(64)),
        sa.Column("category", sa.String(64)),
        sa.Column("properties", sa.JSON()),
        sa.Column("personal", sa.LargeBinary()),
        sa.Column("retention_class", sa.String(64)),
        sa.Column("device_type", sa.String(16)),
        sa.Column("os_family", sa.String(40)),
        sa.Column("os_major", sa.String(16)),
        sa.Column("browser_family", sa.String(40)),
        sa.Column("browser_major", sa.String(16)),
        sa.Column("is_bot", sa.Boolean()),
        sa.Column("ip", sa.String(64)),
    ]
    if new:
        columns += [sa.Column("month", sa.Date()), sa.Column("owner_id", sa.Uuid())]
    return sa.Table(name, sa.MetaData(), *columns)


def _sent_month(client_time: datetime | None, event_id: object, received: datetime) -> date | None:
    """A frozen copy of ``events.rules._sent_month``: None keeps the event where it is."""
    if client_time is not None:
        if EARLIEST_EVENT <= client_time <= received + timedelta(days=1):
            return _month_of(client_time)
        return None
    number = int(getattr(event_id, "int", 0))
    if getattr(event_id, "version", None) == 7:
        moment = datetime.fromtimestamp((number >> 80) / 1000, UTC)
        if EARLIEST_EVENT <= moment <= received + FUTURE_TOLERANCE:
            return _month_of(moment)
    return None


def _into(occurred_at: datetime, month: date) -> datetime | None:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    following = _next(month)
    end = datetime(following.year, following.month, 1, tzinfo=UTC)
    moved = start if occurred_at < start else end - timedelta(microseconds=1)
    return moved if abs(moved - occurred_at) <= MOVE_LIMIT else None


# --- PostgreSQL ----------------------------------------------------------------------------


def _pg_parent(name: str, columns: Sequence[tuple[str, str, str]], key: str) -> None:
    body = ",\n  ".join(f"{c[0]} {c[1]}" for c in columns)
    op.execute(f"CREATE TABLE {name} (\n  {body}\n) PARTITION BY RANGE ({key})")


def _pg_swap(old_columns: bool) -> None:
    """Build the other shape of ``events`` beside the current one, move the rows, swap."""
    months = _months()
    op.execute("ALTER TABLE events RENAME TO events_before")
    op.execute("ALTER INDEX ix_events_subject_time RENAME TO ix_events_before_subject_time")
    op.execute("ALTER INDEX ix_events_anonymous RENAME TO ix_events_before_anonymous")
    for month in months:
        op.execute(f"ALTER TABLE {_name(month)} RENAME TO {_name(month)}_before")
    if old_columns:
        _pg_parent("events", OLD_COLUMNS, "occurred_at")
    else:
        _pg_parent("events", NEW_COLUMNS, "month")
        op.execute(f"ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY ({KEY})")
    op.execute("CREATE INDEX ix_events_subject_time ON events (subject_id, occurred_at)")
    op.execute(
        "CREATE INDEX ix_events_anonymous ON events (anonymous_index) "
        "WHERE anonymous_index IS NOT NULL"
    )
    for month in months:
        start, end = (f"{month}T00:00:00+00:00", f"{_next(month)}T00:00:00+00:00")
        if not old_columns:
            start, end = str(month), str(_next(month))
        op.execute(
            f"CREATE TABLE {_name(month)} PARTITION OF events "
            f"FOR VALUES FROM ('{start}') TO ('{end}')"
        )
    if old_columns:
        op.execute(f"INSERT INTO events ({OLD_NAMES}) SELECT {OLD_NAMES} FROM events_before")  # noqa: S608
    else:
        op.execute(
            f"INSERT INTO events ({NEW_NAMES}) SELECT {OLD_NAMES}, "  # noqa: S608
            "date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date, "
            "COALESCE(subject_id, substr(anonymous_index, 1, 32)::uuid) FROM events_before"
        )
    op.execute("DROP TABLE events_before")  # its partitions go with it


# --- SQLite --------------------------------------------------------------------------------


def _sqlite_month(month: date, columns: Sequence[tuple[str, str, str]], select: str) -> None:
    name = _name(month)
    body = ", ".join(f"{c[0]} {c[2]}" for c in columns)
    op.execute(f"ALTER TABLE {name} RENAME TO {name}_before")
    op.execute(f"DROP INDEX IF EXISTS ix_{name}_subject_time")
    op.execute(f"DROP INDEX IF EXISTS ix_{name}_anonymous")
    op.execute(f"DROP INDEX IF EXISTS uq_{name}_key")
    op.execute(f"CREATE TABLE {name} ({body})")
    names = ", ".join(c[0] for c in columns)
    op.execute(f"INSERT INTO {name} ({names}) SELECT {select} FROM {name}_before")  # noqa: S608
    op.execute(f"DROP TABLE {name}_before")
    _sqlite_indexes(month, keyed=columns is NEW_COLUMNS)


def _sqlite_indexes(month: date, *, keyed: bool) -> None:
    name = _name(month)
    if keyed:
        op.execute(f"CREATE UNIQUE INDEX uq_{name}_key ON {name} ({KEY})")
    op.execute(f"CREATE INDEX ix_{name}_subject_time ON {name} (subject_id, occurred_at)")
    op.execute(
        f"CREATE INDEX ix_{name}_anonymous ON {name} (anonymous_index) "
        "WHERE anonymous_index IS NOT NULL"
    )


def _sqlite_view(columns: Sequence[tuple[str, str, str]]) -> None:
    names = ", ".join(c[0] for c in columns)
    months = _months()
    if months:
        body = " UNION ALL ".join(f"SELECT {names} FROM {_name(m)}" for m in months)  # noqa: S608
    else:
        body = "SELECT " + ", ".join(f"NULL AS {c[0]}" for c in columns) + " LIMIT 0"
    op.execute("DROP VIEW IF EXISTS events")
    op.execute(f"CREATE VIEW events AS {body}")


def _sqlite_swap(old_columns: bool) -> None:
    op.execute("DROP VIEW IF EXISTS events")
    for month in _months():
        if old_columns:
            _sqlite_month(month, OLD_COLUMNS, OLD_NAMES)
        else:
            _sqlite_month(
                month,
                NEW_COLUMNS,
                f"{OLD_NAMES}, '{month}', COALESCE(subject_id, substr(anonymous_index, 1, 32))",
            )
    _sqlite_view(OLD_COLUMNS if old_columns else NEW_COLUMNS)


# --- moving events into their filing month -------------------------------------------------


def _ensure_month(month: date) -> None:
    op.get_bind().execute(
        sa.text("INSERT INTO event_partitions (name, month, created_at) VALUES (:n, :m, :t)"),
        {"n": _name(month), "m": month, "t": datetime.now(UTC)},
    )
    if _pg():
        op.execute(
            f"CREATE TABLE {_name(month)} PARTITION OF events "
            f"FOR VALUES FROM ('{month}') TO ('{_next(month)}')"
        )
    else:
        body = ", ".join(f"{c[0]} {c[2]}" for c in NEW_COLUMNS)
        op.execute(f"CREATE TABLE {_name(month)} ({body})")
        _sqlite_indexes(month, keyed=True)


def _file_events() -> None:
    """Move each event whose filing month is not its month into it (see the module text)."""
    bind = op.get_bind()
    moves: list[tuple[date, date, dict[str, object]]] = []
    for month in _months():
        table = _table("events" if _pg() else _name(month), new=True)
        start = datetime(month.year, month.month, 1, tzinfo=UTC)
        following = _next(month)
        end = datetime(following.year, following.month, 1, tzinfo=UTC)
        # Only an event this near its month's ends can be moved (by at most MOVE_LIMIT).
        near = sa.or_(
            table.c.occurred_at < start + MOVE_LIMIT, table.c.occurred_at >= end - MOVE_LIMIT
        )
        query = sa.select(table).where(table.c.month == month, near)
        for row in bind.execute(query).mappings():
            filed = _sent_month(row["client_time"], row["event_id"], row["received_at"])
            if filed is None or filed == month:
                continue
            moved = _into(row["occurred_at"], filed)
            if moved is not None:
                moves.append((month, filed, {**row, "month": filed, "occurred_at": moved}))
    known = set(_months())
    for filed in sorted({m[1] for m in moves} - known):
        _ensure_month(filed)
    for old, filed, row in moves:
        source = _table("events" if _pg() else _name(old), new=True)
        target = _table("events" if _pg() else _name(filed), new=True)
        bind.execute(
            sa.delete(source).where(
                source.c.owner_id == row["owner_id"],
                source.c.month == old,
                source.c.event_id == row["event_id"],
            )
        )
        bind.execute(sa.insert(target).values(**row))
    if not known.issuperset(m[1] for m in moves) and not _pg():
        _sqlite_view(NEW_COLUMNS)


# --- logins --------------------------------------------------------------------------------

_LOGOUTS = """
UPDATE logins SET logout_id = (
  SELECT r.event_id FROM event_receipts r
  WHERE r.occurred_at = logins.logged_out_at
    AND NOT EXISTS (SELECT 1 FROM logins l WHERE l.id = r.event_id)
    AND NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = r.event_id)
  ORDER BY r.event_id LIMIT 1)
WHERE logged_out_at IS NOT NULL
"""


def upgrade() -> None:
    if _pg():
        _pg_swap(old_columns=False)
    else:
        _sqlite_swap(old_columns=False)
    _file_events()
    with op.batch_alter_table("logins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("logout_id", sa.Uuid(), nullable=True))
        batch_op.drop_constraint("pk_logins", type_="primary")
        batch_op.create_primary_key("pk_logins", ["subject_id", "id"])
        batch_op.create_unique_constraint(
            batch_op.f("uq_logins_subject_id"), ["subject_id", "logout_id"]
        )
    op.execute(_LOGOUTS)
    # A look-up table (blind index -> person), sharded by its own key: no foreign key into
    # the people's shards. Nothing deletes a person's row, so the cascade never ran.
    with op.batch_alter_table("anonymous_links", schema=None) as batch_op:
        batch_op.drop_constraint("fk_anonymous_links_subject_id_subjects", type_="foreignkey")
    with op.batch_alter_table("event_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_receipts_occurred_at"))
    op.drop_table("event_receipts")


def downgrade() -> None:
    with op.batch_alter_table("anonymous_links", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_anonymous_links_subject_id_subjects", "subjects", ["subject_id"], ["id"],
            ondelete="CASCADE",
        )  # fmt: skip
    op.create_table(
        "event_receipts",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("occurred_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_event_receipts")),
    )
    with op.batch_alter_table("event_receipts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_receipts_occurred_at"), ["occurred_at"], unique=False
        )
    # Receipts again: every event, login and sign-out (the first of an id, should two
    # senders have used the same one: the old key was the id alone).
    op.execute(
        "INSERT INTO event_receipts (event_id, occurred_at) "
        "SELECT event_id, min(occurred_at) FROM events GROUP BY event_id"
    )
    for column, time in (("id", "logged_in_at"), ("logout_id", "logged_out_at")):
        op.execute(
            f"INSERT INTO event_receipts (event_id, occurred_at) "  # noqa: S608
            f"SELECT {column}, min({time}) FROM logins WHERE {column} IS NOT NULL "
            f"AND {column} NOT IN (SELECT event_id FROM event_receipts) GROUP BY {column}"
        )
    op.execute(
        "DELETE FROM logins WHERE EXISTS (SELECT 1 FROM logins l "
        "WHERE l.id = logins.id AND l.subject_id < logins.subject_id)"
    )
    with op.batch_alter_table("logins", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_logins_subject_id"), type_="unique")
        batch_op.drop_constraint("pk_logins", type_="primary")
        batch_op.create_primary_key("pk_logins", ["id"])
        batch_op.drop_column("logout_id")
    if _pg():
        _pg_swap(old_columns=True)
    else:
        _sqlite_swap(old_columns=True)
