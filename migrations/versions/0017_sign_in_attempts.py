"""Sign-in attempts: every request for a code is a row, account or not; the worker looks
the address up (decision 0019). ``subject_id`` is empty until a code is mailed,
``address_index`` holds the address's blind index until the worker has handled the row, and
``handled_at`` says when it did (the worker's queue: rows without it).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = safehold.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("web_sign_in_codes") as batch:
        batch.add_column(sa.Column("address_index", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("handled_at", UTC, nullable=True))
        batch.alter_column("subject_id", existing_type=sa.Uuid(), nullable=True)
        batch.create_index("ix_web_sign_in_codes_handled_at", ["handled_at"])
    # Rows from before were codes e-mailed at once: handled when made.
    op.execute("UPDATE web_sign_in_codes SET handled_at = created_at")


def downgrade() -> None:
    # Attempts that mailed nothing have no person to keep them under: they go.
    op.execute("DELETE FROM web_sign_in_codes WHERE subject_id IS NULL")
    with op.batch_alter_table("web_sign_in_codes") as batch:
        batch.drop_index("ix_web_sign_in_codes_handled_at")
        batch.alter_column("subject_id", existing_type=sa.Uuid(), nullable=False)
        batch.drop_column("handled_at")
        batch.drop_column("address_index")
