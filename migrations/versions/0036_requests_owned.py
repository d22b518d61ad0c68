"""Requests owned by someone (decision 0040): who a request is assigned to, internal notes
on a request, the reminders sent, and a staff member's address sealed for those reminders.
``data_requests`` only gains columns. The notes and reminders are keyed by person first
(``safehold.sharding``); they point at ``subjects`` (co-located), not at ``data_requests``,
whose key is (subject_id, id) only once the sharding change lands, and the request-log
sweep deletes them with their request.

Revision ID: 0036
Revises: 0042
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0036"
down_revision: str | None = "0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = safehold.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("data_requests") as batch:
        batch.add_column(sa.Column("assignee_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("assigned_at", UTC, nullable=True))
        batch.create_index(batch.f("ix_data_requests_assignee_id"), ["assignee_id"], unique=False)
    with op.batch_alter_table("staff_members") as batch:
        batch.add_column(sa.Column("email_sealed", sa.LargeBinary(), nullable=True))
    op.create_table(
        "request_notes",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("author", sa.String(length=120), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_request_notes_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("subject_id", "request_id", "id", name=op.f("pk_request_notes")),
    )
    op.create_table(
        "request_reminders",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("threshold", sa.String(length=16), nullable=False),
        sa.Column("deadline_at", UTC, nullable=False),
        sa.Column("sent_at", UTC, nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_request_reminders_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint(
            "subject_id",
            "request_id",
            "threshold",
            "deadline_at",
            name=op.f("pk_request_reminders"),
        ),
    )


def downgrade() -> None:
    op.drop_table("request_reminders")
    op.drop_table("request_notes")
    with op.batch_alter_table("staff_members") as batch:
        batch.drop_column("email_sealed")
    with op.batch_alter_table("data_requests") as batch:
        batch.drop_index(batch.f("ix_data_requests_assignee_id"))
        batch.drop_column("assigned_at")
        batch.drop_column("assignee_id")
