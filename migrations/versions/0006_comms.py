"""Communication: messages, the outbox, the suppression list; marketing choice references.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=80), nullable=False),
        sa.Column("audience", sa.String(length=8), nullable=False),
        sa.Column("subject_template", sa.Text(), nullable=False),
        sa.Column("text_template", sa.Text(), nullable=False),
        sa.Column("html_template", sa.Text(), nullable=True),
        sa.Column("created_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    op.create_table(
        "outbox_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=80), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claim_token", sa.Uuid(), nullable=True),
        sa.Column("claimed_by", sa.String(length=120), nullable=True),
        sa.Column("mail_message_id", sa.String(length=255), nullable=False),
        sa.Column("sent_at", safehold.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_outbox_items_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
            name=op.f("fk_outbox_items_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_items")),
    )
    with op.batch_alter_table("outbox_items", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_items_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_outbox_items_message_id"), ["message_id"], unique=False
        )
        batch_op.create_index(
            "ix_outbox_items_subject_status", ["subject_id", "status"], unique=False
        )

    op.create_table(
        "mail_suppressions",
        sa.Column("email_index", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("email_index", "kind", name=op.f("pk_mail_suppressions")),
    )
    with op.batch_alter_table("marketing_choices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reference", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("marketing_choices", schema=None) as batch_op:
        batch_op.drop_column("reference")
    op.drop_table("mail_suppressions")
    with op.batch_alter_table("outbox_items", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_items_subject_status")
        batch_op.drop_index(batch_op.f("ix_outbox_items_message_id"))
        batch_op.drop_index("ix_outbox_items_due")
    op.drop_table("outbox_items")
    op.drop_table("messages")
