"""Policy versions (immutable, published) and people's acceptance records.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("rendered_md", sa.Text(), nullable=False),
        sa.Column("change_class", sa.String(length=16), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("needs_acceptance", sa.JSON(), nullable=False),
        sa.Column("effective_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_policy_versions")),
    )
    op.create_table(
        "policy_acceptances",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("version_seq", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=24), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("evidence", sa.String(length=120), nullable=True),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
            name=op.f("fk_policy_acceptances_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_seq"],
            ["policy_versions.seq"],
            name=op.f("fk_policy_acceptances_version_seq_policy_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_acceptances")),
        sa.UniqueConstraint(
            "subject_id", "version_seq", "method", name=op.f("uq_policy_acceptances_subject_id")
        ),
    )
    with op.batch_alter_table("policy_acceptances", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_policy_acceptances_subject_id"), ["subject_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_policy_acceptances_version_seq"), ["version_seq"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("policy_acceptances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_acceptances_version_seq"))
        batch_op.drop_index(batch_op.f("ix_policy_acceptances_subject_id"))

    op.drop_table("policy_acceptances")
    op.drop_table("policy_versions")
