"""Requests: the purpose an objection names (platform_improvement, communication.marketing).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("data_requests") as batch:
        batch.add_column(sa.Column("purpose", sa.String(length=64), nullable=True))
    # The request-log purge finds answered requests by their response date.
    op.create_index("ix_data_requests_responded_at", "data_requests", ["responded_at"])


def downgrade() -> None:
    op.drop_index("ix_data_requests_responded_at", table_name="data_requests")
    with op.batch_alter_table("data_requests") as batch:
        batch.drop_column("purpose")
