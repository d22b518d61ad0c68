"""Policy versions: a scheduled version can be withdrawn before it takes effect; the
messages that announced a version (or its withdrawal) are linked to it (decision 0034).

Revision ID: 0032
Revises: 0029
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0032"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = safehold.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "policy_notices",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("version_seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_policy_notices_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_seq"],
            ["policy_versions.seq"],
            name=op.f("fk_policy_notices_version_seq_policy_versions"),
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_policy_notices")),
    )
    op.create_index(
        op.f("ix_policy_notices_version_seq"), "policy_notices", ["version_seq"], unique=False
    )
    op.create_table(
        "policy_withdrawals",
        sa.Column("version_seq", sa.Integer(), nullable=False),
        sa.Column("withdrawn_at", UTC, nullable=False),
        sa.Column("withdrawn_by", sa.String(length=120), nullable=False),
        sa.Column("notices_stopped", sa.Integer(), nullable=False),
        sa.Column("people_told", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_seq"],
            ["policy_versions.seq"],
            name=op.f("fk_policy_withdrawals_version_seq_policy_versions"),
        ),
        sa.PrimaryKeyConstraint("version_seq", name=op.f("pk_policy_withdrawals")),
    )


def downgrade() -> None:
    op.drop_table("policy_withdrawals")
    op.drop_index(op.f("ix_policy_notices_version_seq"), table_name="policy_notices")
    op.drop_table("policy_notices")
