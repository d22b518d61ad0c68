"""Privacy-center confirmations (decision 0024): objections become a history (withdrawn
ones stay, with ``withdrawn_at``; at most one open per person and purpose), a new sign-in
address waits in ``web_email_changes`` until the code sent to it is entered, and an outbox
row may carry a sealed recipient address (the new address, or the old one being told).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = safehold.db.UTCDateTime(timezone=True)
OPEN = sa.text("withdrawn_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("objections") as batch:
        batch.add_column(sa.Column("withdrawn_at", UTC, nullable=True))
        batch.add_column(sa.Column("withdrawn_by", sa.String(length=120), nullable=True))
        batch.drop_constraint("uq_objections_subject_id", type_="unique")
        batch.create_index("ix_objections_subject_id_purpose", ["subject_id", "purpose"])
    op.create_index(
        "ux_objections_open", "objections", ["subject_id", "purpose"], unique=True,
        sqlite_where=OPEN, postgresql_where=OPEN,
    )  # fmt: skip
    op.create_table(
        "web_email_changes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("sealed_address", sa.LargeBinary(), nullable=False),
        sa.Column("address_index", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_web_email_changes_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_email_changes")),
    )  # fmt: skip
    op.create_index(
        "ix_web_email_changes_subject_created", "web_email_changes", ["subject_id", "created_at"]
    )
    with op.batch_alter_table("outbox_items") as batch:
        batch.add_column(sa.Column("sealed_recipient", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("recipient_index", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_items") as batch:
        batch.drop_column("recipient_index")
        batch.drop_column("sealed_recipient")
    op.drop_index("ix_web_email_changes_subject_created", table_name="web_email_changes")
    op.drop_table("web_email_changes")
    # Only the open objection of each person and purpose fits the old one-row-per-pair shape.
    op.execute("DELETE FROM objections WHERE withdrawn_at IS NOT NULL")
    op.drop_index("ux_objections_open", table_name="objections")
    with op.batch_alter_table("objections") as batch:
        batch.drop_index("ix_objections_subject_id_purpose")
        batch.create_unique_constraint("uq_objections_subject_id", ["subject_id", "purpose"])
        batch.drop_column("withdrawn_by")
        batch.drop_column("withdrawn_at")
