"""Sharing: disclosure records, the people in each, and the notices owed to recipients.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 19:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "disclosures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recipient_id", sa.String(length=80), nullable=False),
        sa.Column("recipient_role", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=80), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("policy_hash", sa.String(length=64), nullable=False),
        sa.Column("people_disclosed", sa.Integer(), nullable=False),
        sa.Column("people_refused", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosures")),
    )
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disclosures_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_disclosures_recipient_id"), ["recipient_id"], unique=False
        )

    op.create_table(
        "disclosure_subjects",
        sa.Column("disclosure_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("rule", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["disclosure_id"],
            ["disclosures.id"],
            name=op.f("fk_disclosure_subjects_disclosure_id_disclosures"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("disclosure_id", "subject_id", name=op.f("pk_disclosure_subjects")),
    )
    with op.batch_alter_table("disclosure_subjects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_disclosure_subjects_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "propagations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.String(length=80), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("due_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", safehold.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", safehold.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("acknowledged_at", safehold.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_propagations")),
    )
    with op.batch_alter_table("propagations", schema=None) as batch_op:
        batch_op.create_index("ix_propagations_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_propagations_subject_id"), ["subject_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("propagations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_propagations_subject_id"))
        batch_op.drop_index("ix_propagations_due")

    op.drop_table("propagations")
    with op.batch_alter_table("disclosure_subjects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disclosure_subjects_subject_id"))

    op.drop_table("disclosure_subjects")
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disclosures_recipient_id"))
        batch_op.drop_index(batch_op.f("ix_disclosures_at"))

    op.drop_table("disclosures")
