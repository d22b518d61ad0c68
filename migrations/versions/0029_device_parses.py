"""Device detection on maintained libraries (decision 0032): the persistent parse cache
``device_parses`` (keyed by a keyed hash of the User-Agent, never the string), the device's
maker on a person's device rows, and an index on their fingerprints (the refiner finds the
rows that got a quick answer by them).

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_parses",
        sa.Column("key", sa.String(length=31), nullable=False),
        sa.Column("device_type", sa.String(length=16), nullable=False),
        sa.Column("brand", sa.String(length=40), nullable=True),
        sa.Column("os_family", sa.String(length=40), nullable=True),
        sa.Column("os_major", sa.String(length=16), nullable=True),
        sa.Column("browser_family", sa.String(length=40), nullable=True),
        sa.Column("browser_major", sa.String(length=16), nullable=True),
        sa.Column("parser", sa.String(length=40), nullable=False),
        sa.Column("parsed_at", safehold.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_device_parses")),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("brand", sa.String(length=40), nullable=True))
        batch_op.create_index("ix_devices_fingerprint", ["fingerprint"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index("ix_devices_fingerprint")
        batch_op.drop_column("brand")
    op.drop_table("device_parses")
