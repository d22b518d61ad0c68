"""Staff accounts: members with a role, their sign-in attempts, and console sessions that
name a member (decision 0038).

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = safehold.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff_members",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email_index", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.Column("invited_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("invite_expires_at", UTC, nullable=True),
        sa.Column("joined_at", UTC, nullable=True),
        sa.Column("last_sign_in_at", UTC, nullable=True),
        sa.Column("removed_at", UTC, nullable=True),
        sa.Column("totp_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("totp_confirmed_at", UTC, nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_members")),
        sa.UniqueConstraint("email_index", name=op.f("uq_staff_members_email_index")),
    )
    op.create_table(
        "staff_sign_ins",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("code_tries", sa.Integer(), nullable=False),
        sa.Column("code_ok_at", UTC, nullable=True),
        sa.Column("totp_tries", sa.Integer(), nullable=False),
        sa.Column("used_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["staff_members.id"],
            name=op.f("fk_staff_sign_ins_member_id_staff_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sign_ins")),
    )
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(sa.Column("staff_member_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("staff_role", sa.String(length=24), nullable=True))
        batch.create_index(
            batch.f("ix_web_sessions_staff_member_id"), ["staff_member_id"], unique=False
        )
        batch.create_foreign_key(
            batch.f("fk_web_sessions_staff_member_id_staff_members"), "staff_members",
            ["staff_member_id"], ["id"],
        )  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_constraint(
            batch.f("fk_web_sessions_staff_member_id_staff_members"), type_="foreignkey"
        )
        batch.drop_index(batch.f("ix_web_sessions_staff_member_id"))
        batch.drop_column("staff_role")
        batch.drop_column("staff_member_id")
    op.drop_table("staff_sign_ins")
    op.drop_table("staff_members")
