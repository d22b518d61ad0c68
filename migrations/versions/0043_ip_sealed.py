"""IP addresses sealed per month (decision 0043, "IP addresses"): the login history and every
month of events gain ``ip_sealed`` (a known person's address, encrypted under their data key
for ``network_ip@YYYY-MM``), ``ip_class`` (that key's class) and ``ip_whole`` (the address is
whole, ``events.ip.mode: full``, rather than a network).

The plain ``ip`` columns stay: the addresses already in them are not sealed here (the key
provider is outside the database and not reachable from a migration), and ingestion no longer
writes them; ``expire_ips`` clears them within the ``network.ip`` period (30 days by default)
and ``retention.month_keys`` names them meanwhile.

PostgreSQL: ``ALTER TABLE events`` reaches every partition. SQLite: every month table, then
the ``events`` view is rebuilt with the new columns (a frozen copy of ``storage``'s).

Revision ID: 0043
Revises: 0039
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

revision: str = "0043"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW = (("ip_sealed", "bytea", "BLOB"), ("ip_class", "varchar(96)", "VARCHAR(96)"),
       ("ip_whole", "boolean", "BOOLEAN"))  # fmt: skip
COLUMNS = (
    "event_id", "occurred_at", "client_time", "received_at", "subject_id", "anonymous_index",
    "name", "category", "properties", "personal", "retention_class", "device_type", "os_family",
    "os_major", "browser_family", "browser_major", "is_bot", "ip", "month", "owner_id",
)  # fmt: skip


def _months() -> list[date]:
    rows = op.get_bind().execute(sa.text("SELECT month FROM event_partitions ORDER BY month"))
    return [m if isinstance(m, date) else date.fromisoformat(str(m)) for (m,) in rows]


def _name(month: date) -> str:
    return f"events_{month.year:04d}{month.month:02d}"


def _view(columns: Sequence[str]) -> None:
    names = [_name(m) for m in _months()]
    listed = ", ".join(columns)
    if names:
        body = " UNION ALL ".join(f"SELECT {listed} FROM {n}" for n in names)  # noqa: S608
    else:
        body = "SELECT " + ", ".join(f"NULL AS {c}" for c in columns) + " LIMIT 0"
    op.execute("DROP VIEW IF EXISTS events")
    op.execute(f"CREATE VIEW events AS {body}")


def upgrade() -> None:
    with op.batch_alter_table("logins") as batch:
        batch.add_column(sa.Column("ip_sealed", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("ip_class", sa.String(96), nullable=True))
        batch.add_column(sa.Column("ip_whole", sa.Boolean(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        for column, pg, _ in NEW:
            op.execute(f"ALTER TABLE events ADD COLUMN {column} {pg}")
        return
    for month in _months():
        for column, _, lite in NEW:
            op.execute(f"ALTER TABLE {_name(month)} ADD COLUMN {column} {lite}")
    _view([*COLUMNS, *(c for c, _, _ in NEW)])


def downgrade() -> None:
    # The sealed addresses go with their columns (as they would at their period's end).
    with op.batch_alter_table("logins") as batch:
        batch.drop_column("ip_whole")
        batch.drop_column("ip_class")
        batch.drop_column("ip_sealed")
    if op.get_bind().dialect.name == "postgresql":
        for column, _, _ in reversed(NEW):
            op.execute(f"ALTER TABLE events DROP COLUMN {column}")
        return
    _view(COLUMNS)
    for month in _months():
        for column, _, _ in reversed(NEW):
            op.execute(f"ALTER TABLE {_name(month)} DROP COLUMN {column}")
