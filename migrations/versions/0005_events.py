"""Usage events: month partitions, idempotency receipts, devices, logins, anonymous links.

The events themselves are stored per UTC month. On PostgreSQL ``events`` is a native
range-partitioned table (its months, ``events_YYYYMM``, are created at run time); on SQLite
each month is its own table and ``events`` is a view over them. Neither is in the ORM
metadata: the drift check skips them (``safehold.migrate.include_name``). The DDL here is a
frozen copy of ``safehold.events.storage``; a later column change alters both.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENT_COLUMNS = (
    ("event_id", "uuid NOT NULL"),
    ("occurred_at", "timestamptz NOT NULL"),
    ("client_time", "timestamptz"),
    ("received_at", "timestamptz NOT NULL"),
    ("subject_id", "uuid"),
    ("anonymous_index", "varchar(64)"),
    ("name", "varchar(64) NOT NULL"),
    ("category", "varchar(64) NOT NULL"),
    ("properties", "json"),
    ("personal", "bytea"),
    ("retention_class", "varchar(64)"),
    ("device_type", "varchar(16)"),
    ("os_family", "varchar(40)"),
    ("os_major", "varchar(16)"),
    ("browser_family", "varchar(40)"),
    ("browser_major", "varchar(16)"),
    ("is_bot", "boolean NOT NULL"),
    ("ip", "varchar(64)"),
)


def upgrade() -> None:
    op.create_table(
        "event_partitions",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("created_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_partitions")),
        sa.UniqueConstraint("month", name=op.f("uq_event_partitions_month")),
    )
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
    op.create_table(
        "devices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("device_type", sa.String(length=16), nullable=False),
        sa.Column("os_family", sa.String(length=40), nullable=True),
        sa.Column("os_major", sa.String(length=16), nullable=True),
        sa.Column("browser_family", sa.String(length=40), nullable=True),
        sa.Column("browser_major", sa.String(length=16), nullable=True),
        sa.Column("first_seen_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
            name=op.f("fk_devices_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("subject_id", "fingerprint", name=op.f("uq_devices_subject_id")),
    )
    op.create_table(
        "logins",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("logged_in_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("logged_out_at", safehold.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=True),
        sa.Column("logout_properties", sa.JSON(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_logins_device_id_devices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_logins_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logins")),
    )  # fmt: skip
    with op.batch_alter_table("logins", schema=None) as batch_op:
        batch_op.create_index(
            "ix_logins_subject_id_logged_in_at", ["subject_id", "logged_in_at"], unique=False
        )
    op.create_table(
        "anonymous_links",
        sa.Column("anonymous_index", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("linked_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
            name=op.f("fk_anonymous_links_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("anonymous_index", name=op.f("pk_anonymous_links")),
    )
    with op.batch_alter_table("anonymous_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_anonymous_links_subject_id"), ["subject_id"], unique=False
        )

    if op.get_bind().dialect.name == "postgresql":
        columns = ",\n  ".join(f"{name} {kind}" for name, kind in EVENT_COLUMNS)
        op.execute(f"CREATE TABLE events (\n  {columns}\n) PARTITION BY RANGE (occurred_at)")
        op.execute("CREATE INDEX ix_events_subject_time ON events (subject_id, occurred_at)")
        op.execute(
            "CREATE INDEX ix_events_anonymous ON events (anonymous_index) "
            "WHERE anonymous_index IS NOT NULL"
        )
    else:
        nulls = ", ".join(f"NULL AS {name}" for name, _kind in EVENT_COLUMNS)
        op.execute(f"CREATE VIEW events AS SELECT {nulls} LIMIT 0")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TABLE IF EXISTS events")  # its partitions go with it
    else:
        op.execute("DROP VIEW IF EXISTS events")
        months = bind.execute(sa.text("SELECT name FROM event_partitions")).scalars().all()
        for name in months:
            if name.startswith("events_") and name[7:].isdigit():
                op.execute(f"DROP TABLE IF EXISTS {name}")
    with op.batch_alter_table("anonymous_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_anonymous_links_subject_id"))
    op.drop_table("anonymous_links")
    with op.batch_alter_table("logins", schema=None) as batch_op:
        batch_op.drop_index("ix_logins_subject_id_logged_in_at")
    op.drop_table("logins")
    op.drop_table("devices")
    with op.batch_alter_table("event_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_receipts_occurred_at"))
    op.drop_table("event_receipts")
    op.drop_table("event_partitions")
