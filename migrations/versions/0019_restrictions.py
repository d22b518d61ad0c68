"""Restrictions of processing (GDPR Art. 18): one row per restriction applied on a verified
request, with its reason code, the notice sent before it is lifted (Art. 18(3)) and the lift.
While a row is in force the person's ``subjects.status`` is ``restricted`` (decision 0023).

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0019"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = safehold.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "restrictions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("applied_at", UTC, nullable=False),
        sa.Column("applied_by", sa.String(length=120), nullable=False),
        sa.Column("lift_reason", sa.String(length=32), nullable=True),
        sa.Column("lift_notice_at", UTC, nullable=True),
        sa.Column("lift_notice_item", sa.Uuid(), nullable=True),
        sa.Column("lifted_at", UTC, nullable=True),
        sa.Column("lifted_by", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_restrictions_subject_id_subjects")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["data_requests.id"],
            name=op.f("fk_restrictions_request_id_data_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restrictions")),
        sa.UniqueConstraint("request_id", name=op.f("uq_restrictions_request_id")),
    )
    with op.batch_alter_table("restrictions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_restrictions_subject_id"), ["subject_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("restrictions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_restrictions_subject_id"))
    op.drop_table("restrictions")
