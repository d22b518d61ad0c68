"""Audit key versions (issue 18, decision 0030 "Rotating the audit key"): rotated audit keys
wrapped by the KEK in ``audit_keys``, and the version that keyed each entry and checkpoint.

Existing entries and checkpoints are version 0, the key derived from the index key, as they
were written. ``audit_keys`` rows cannot be deleted (a trigger refuses it; on PostgreSQL also
TRUNCATE): an entry whose key is gone could no longer be verified. They can be updated, which
re-wrapping under a new KEK version needs.

Revision ID: 0042
Revises: 0037
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0042"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSAL = "audit keys cannot be removed"


def upgrade() -> None:
    op.create_table(
        "audit_keys",
        sa.Column("version", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("kek_version", sa.String(length=32), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_audit_keys")),
    )
    # Plain ADD COLUMN (no table rebuild): the append-only triggers stay as they are.
    for table in ("audit_entries", "audit_checkpoints"):
        op.add_column(
            table, sa.Column("key_version", sa.SmallInteger(), server_default="0", nullable=False)
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_keys_kept() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{REFUSAL}' USING ERRCODE = 'insufficient_privilege'; "
            "END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_keys_no_delete BEFORE DELETE ON audit_keys "
            "FOR EACH ROW EXECUTE FUNCTION audit_keys_kept()"
        )
        op.execute(
            "CREATE TRIGGER audit_keys_no_truncate BEFORE TRUNCATE ON audit_keys "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_keys_kept()"
        )
    else:
        op.execute(
            "CREATE TRIGGER audit_keys_no_delete BEFORE DELETE ON audit_keys "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT COUNT(*) FROM audit_keys")).scalar():
        raise RuntimeError("entries keyed by rotated audit keys cannot go back to one key")
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_keys_no_truncate ON audit_keys")
        op.execute("DROP TRIGGER audit_keys_no_delete ON audit_keys")
        op.execute("DROP FUNCTION audit_keys_kept()")
    for table in ("audit_checkpoints", "audit_entries"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN key_version")
    op.drop_table("audit_keys")
