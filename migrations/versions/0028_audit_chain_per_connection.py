"""One audit chain per connection (decision 0030, "One chain per connection"): the database
moves a chain's head when an entry is inserted and refuses an entry that does not extend it.

The owner of a chain (``access.chains``) knows where it ends, so an append is one INSERT; the
trigger ``audit_entries_extend`` keeps ``audit_head`` following every entry (as verify and the
checkpoints read it) and makes a fork impossible: an entry whose position is not the head's
next, or whose previous link is not the head's, is refused with nothing written.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The refusal is spelt out in each statement (no string building in SQL).


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_entries_extend() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN "
            "UPDATE audit_head SET last_seq = NEW.position, last_hash = NEW.hash "
            "WHERE id = NEW.chain AND last_seq = NEW.position - 1 "
            "AND last_hash = NEW.prev_hash; "
            "IF NOT FOUND THEN RAISE EXCEPTION 'an audit entry must extend the head of its chain' "
            "USING ERRCODE = 'integrity_constraint_violation'; END IF; "
            "RETURN NEW; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_entries_extend BEFORE INSERT ON audit_entries "
            "FOR EACH ROW EXECUTE FUNCTION audit_entries_extend()"
        )
        return
    op.execute(
        "CREATE TRIGGER audit_entries_extend BEFORE INSERT ON audit_entries BEGIN "
        "SELECT RAISE(ABORT, 'an audit entry must extend the head of its chain') "
        "WHERE NOT EXISTS (SELECT 1 FROM audit_head "
        "WHERE id = NEW.chain AND last_seq = NEW.position - 1 AND last_hash = NEW.prev_hash); "
        "UPDATE audit_head SET last_seq = NEW.position, last_hash = NEW.hash "
        "WHERE id = NEW.chain; END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_entries_extend ON audit_entries")
        op.execute("DROP FUNCTION audit_entries_extend()")
        return
    op.execute("DROP TRIGGER audit_entries_extend")
