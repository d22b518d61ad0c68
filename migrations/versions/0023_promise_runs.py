"""Promise runs: each finished `safehold promises` check's results (counts and ids only),
for the console and the gauge on /metrics.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = safehold.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "promise_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("started_at", UTC, nullable=False),
        sa.Column("finished_at", UTC, nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("violated", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promise_runs")),
    )
    with op.batch_alter_table("promise_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_promise_runs_started_at"), ["started_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("promise_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_promise_runs_started_at"))
    op.drop_table("promise_runs")
