"""The audit chain's head follows its newest entry: a trigger moves it when an entry is
appended past it, so appending one entry is one statement (``access.audit``).

A batch takes its numbers first (the head already stands at its last number, so the trigger
leaves the head alone) and moves the head to the last hash itself.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOVE = (
    "UPDATE audit_head SET last_seq = NEW.seq, last_hash = NEW.hash "
    "WHERE id = 1 AND last_seq < NEW.seq"
)


def upgrade() -> None:
    if _pg():
        op.execute(
            "CREATE FUNCTION audit_head_follows() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {MOVE}; RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_head_follows AFTER INSERT ON audit_entries "
            "FOR EACH ROW EXECUTE FUNCTION audit_head_follows()"
        )
    else:
        op.execute(
            "CREATE TRIGGER audit_head_follows AFTER INSERT ON audit_entries "
            f"FOR EACH ROW BEGIN {MOVE}; END"
        )


def downgrade() -> None:
    if _pg():
        op.execute("DROP TRIGGER audit_head_follows ON audit_entries")
        op.execute("DROP FUNCTION audit_head_follows()")
    else:
        op.execute("DROP TRIGGER audit_head_follows")


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"
