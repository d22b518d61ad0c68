"""Staff passkeys: members' WebAuthn credentials and the single-use challenges of their
registration and sign-in ceremonies (decision 0041).

Revision ID: 0037
Revises: 0034
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0037"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = safehold.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff_passkeys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("credential_id", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("transports", sa.String(length=120), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("last_used_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["staff_members.id"],
            name=op.f("fk_staff_passkeys_member_id_staff_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_passkeys")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_staff_passkeys_credential_id")),
    )
    op.create_index(
        op.f("ix_staff_passkeys_member_id"), "staff_passkeys", ["member_id"], unique=False
    )
    op.create_table(
        "staff_passkey_ceremonies",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=True),
        sa.Column("challenge", sa.LargeBinary(), nullable=False),
        sa.Column("signs_in", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("used_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["staff_members.id"],
            name=op.f("fk_staff_passkey_ceremonies_member_id_staff_members"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_passkey_ceremonies")),
    )


def downgrade() -> None:
    op.drop_table("staff_passkey_ceremonies")
    op.drop_index(op.f("ix_staff_passkeys_member_id"), table_name="staff_passkeys")
    op.drop_table("staff_passkeys")
