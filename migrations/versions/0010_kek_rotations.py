"""When key rotations finished (for the record of processing activities).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kek_rotations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("target_version", sa.String(length=32), nullable=False),
        sa.Column("finished_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rewrapped", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kek_rotations")),
    )


def downgrade() -> None:
    op.drop_table("kek_rotations")
