"""Key epochs: a data key's class and KEK version can name a month epoch
(``usage_events@2026-03``), up to 80 characters of class id plus the month (decision 0043).

Revision ID: 0039
Revises: 0035
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _widths(klass: int, version: int, old_klass: int, old_version: int) -> None:
    with op.batch_alter_table("data_keys") as batch:
        batch.alter_column(
            "retention_class", type_=sa.String(klass), existing_type=sa.String(old_klass),
            existing_nullable=False,
        )  # fmt: skip
        batch.alter_column(
            "kek_version", type_=sa.String(version), existing_type=sa.String(old_version),
            existing_nullable=False,
        )  # fmt: skip
    if op.get_bind().dialect.name == "postgresql":  # SQLite's month tables: no length checked
        op.execute(f"ALTER TABLE events ALTER COLUMN retention_class TYPE varchar({klass})")


def upgrade() -> None:
    _widths(96, 96, 64, 32)


def downgrade() -> None:
    # Epoch keys cannot be shortened back: they are gone with the downgrade's data loss.
    op.execute("DELETE FROM data_keys WHERE kek_version LIKE '%@%' OR retention_class LIKE '%@%'")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE events SET retention_class = NULL WHERE retention_class LIKE '%@%'")
    _widths(64, 32, 96, 96)
