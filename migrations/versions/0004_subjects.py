"""People: subjects, their encrypted values, payment methods and marketing choices.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 18:03:01.987547
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subjects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("email_index", sa.String(length=64), nullable=True),
        sa.Column("phone_index", sa.String(length=64), nullable=True),
        sa.Column("policy_version_shown", sa.String(length=64), nullable=False),
        sa.Column("created_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", safehold.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("erased_at", safehold.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subjects")),
        sa.UniqueConstraint("email_index", name=op.f("uq_subjects_email_index")),
    )
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subjects_phone_index"), ["phone_index"], unique=False)

    op.create_table(
        "marketing_choices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("choice", sa.String(length=16), nullable=False),
        sa.Column("at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
            name=op.f("fk_marketing_choices_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_choices")),
    )
    with op.batch_alter_table("marketing_choices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_marketing_choices_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "payment_methods",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("processor", sa.String(length=64), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("brand", sa.LargeBinary(), nullable=False),
        sa.Column("last4", sa.LargeBinary(), nullable=False),
        sa.Column("expiry", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("removed_at", safehold.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
            name=op.f("fk_payment_methods_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_methods")),
    )
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_methods_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "personal_values",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("retention_class", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
            name=op.f("fk_personal_values_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subject_id", "category", "field", name=op.f("pk_personal_values")),
    )


def downgrade() -> None:
    op.drop_table("personal_values")
    with op.batch_alter_table("payment_methods", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_methods_subject_id"))

    op.drop_table("payment_methods")
    with op.batch_alter_table("marketing_choices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketing_choices_subject_id"))

    op.drop_table("marketing_choices")
    with op.batch_alter_table("subjects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subjects_phone_index"))

    op.drop_table("subjects")
