"""Late events: events stored after their day ended, until the roll-ups count them
(decision 0026). Days finalised with nothing in them are reopened, so data that arrived
after them (the demo data, a backfill) is counted by the next roll-up.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_late_events",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("claimed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_analytics_late_events")),
    )
    op.create_index(
        op.f("ix_analytics_late_events_day"), "analytics_late_events", ["day"], unique=False
    )
    # An empty final day loses nothing by being built again; one that missed late data
    # before this revision is counted right by that build.
    op.execute("UPDATE analytics_days SET final = false WHERE events = 0")


def downgrade() -> None:
    op.drop_index(op.f("ix_analytics_late_events_day"), table_name="analytics_late_events")
    op.drop_table("analytics_late_events")
