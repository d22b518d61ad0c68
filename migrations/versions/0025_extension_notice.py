"""Requests: the deadline an extension started from, and the outbox row of the e-mail that
told the person of it (GDPR Art. 12(3), decision 0029), so `safehold promises` can prove
each extension was made, and told, within the first period.

Revision ID: 0025
Revises: 0023
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0025"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = safehold.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("data_requests") as batch:
        batch.add_column(sa.Column("first_deadline_at", UTC, nullable=True))
        batch.add_column(sa.Column("extension_notice_item", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("data_requests") as batch:
        batch.drop_column("extension_notice_item")
        batch.drop_column("first_deadline_at")
