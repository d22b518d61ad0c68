"""Recipients in the course of the service, and reads of what an erasure kept (issue 17,
items 5 and 6; decision 0025).

``service_deliveries``: what a processor received of a person while providing the service
(the e-mail provider, once per message), one row per (person, recipient, purpose, category
set) with first/last time and a count. ``kept_reads``: each ``legal_obligation`` read of an
erased person's kept data, with its reference.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = safehold.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "service_deliveries",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.String(length=80), nullable=False),
        sa.Column("purpose", sa.String(length=80), nullable=False),
        sa.Column("categories", sa.String(length=400), nullable=False),
        sa.Column("first_at", UTC, nullable=False),
        sa.Column("last_at", UTC, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "subject_id", "recipient_id", "purpose", "categories",
            name=op.f("pk_service_deliveries"),
        ),
    )  # fmt: skip
    op.create_table(
        "kept_reads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=80), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kept_reads")),
    )
    with op.batch_alter_table("kept_reads") as batch:
        batch.create_index(batch.f("ix_kept_reads_subject_id"), ["subject_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("kept_reads") as batch:
        batch.drop_index(batch.f("ix_kept_reads_subject_id"))
    op.drop_table("kept_reads")
    op.drop_table("service_deliveries")
