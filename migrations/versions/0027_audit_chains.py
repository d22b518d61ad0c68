"""The audit log on several independent chains (decision 0030): each entry gets its chain and
its position on it; ``audit_head`` holds one head per chain (``id`` = the chain's number);
``seq`` becomes a row number the database gives (a sequence on PostgreSQL, the rowid on
SQLite), so appending on different chains takes no common lock. ``audit_checkpoints`` keeps the
sealed heads (``access.checkpoints``).

Both tables are append-only in the database itself: triggers refuse UPDATE and DELETE (and
TRUNCATE on PostgreSQL), so a bug or a stray statement cannot change the log. They stop the
role Safehold runs as, not an owner who drops them: the keyed links and the checkpoints are
what detects that (docs/operations.md, "An insert-only role").

The existing chain becomes chain 0, its positions its old numbers (which its links cover).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import safehold.db

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHAINS = 16  # access.audit.CHAINS at this revision
GENESIS = "0" * 64
POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
GUARDED = ("audit_entries", "audit_checkpoints")
REFUSAL = "the audit log is append-only"


def upgrade() -> None:
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("position", POSITION, nullable=True))
    op.execute("UPDATE audit_entries SET chain = 0, position = seq")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.alter_column("chain", existing_type=sa.SmallInteger(), nullable=False)
        batch_op.alter_column("position", existing_type=POSITION, nullable=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_audit_entries_chain"), ["chain", "position"]
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE audit_entries_seq_seq OWNED BY audit_entries.seq")
        op.execute(
            "SELECT setval('audit_entries_seq_seq', COALESCE(MAX(seq), 0) + 1, false) "
            "FROM audit_entries"
        )
        op.execute(
            "ALTER TABLE audit_entries "
            "ALTER COLUMN seq SET DEFAULT nextval('audit_entries_seq_seq')"
        )
    op.create_table(
        "audit_checkpoints",
        sa.Column("number", POSITION, autoincrement=False, nullable=False),
        sa.Column("at", safehold.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heads", sa.JSON(), nullable=False),
        sa.Column("prev_mac", sa.String(length=64), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_audit_checkpoints")),
    )
    op.execute("UPDATE audit_head SET id = 0 WHERE id = 1")
    head = sa.table("audit_head", sa.column("id"), sa.column("last_seq"), sa.column("last_hash"))
    op.bulk_insert(head, [{"id": c, "last_seq": 0, "last_hash": GENESIS} for c in range(1, CHAINS)])
    _guard()


def _guard() -> None:
    """Triggers named ``<table>_no_update`` and ``<table>_no_delete`` (and, on PostgreSQL,
    ``<table>_no_truncate``) that refuse the statement."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{REFUSAL}' USING ERRCODE = 'insufficient_privilege'; "
            "END $$"
        )
        for table in GUARDED:
            for event in ("update", "delete"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event} BEFORE {event.upper()} ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
                )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
            )
        return
    for table in GUARDED:
        for event in ("update", "delete"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{event} BEFORE {event.upper()} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END"
            )


def _unguard() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for table in GUARDED:
        for event in ("update", "delete", *(("truncate",) if pg else ())):
            op.execute(f"DROP TRIGGER {table}_no_{event}" + (f" ON {table}" if pg else ""))
    if pg:
        op.execute("DROP FUNCTION audit_append_only()")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT COUNT(*) FROM audit_entries WHERE chain <> 0")).scalar():
        raise RuntimeError("entries on chains other than 0 cannot go back to one chain")
    _unguard()
    op.drop_table("audit_checkpoints")
    op.execute("DELETE FROM audit_head WHERE id <> 0")
    op.execute("UPDATE audit_head SET id = 1 WHERE id = 0")
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_entries ALTER COLUMN seq DROP DEFAULT")
        op.execute("DROP SEQUENCE audit_entries_seq_seq")
    op.execute("UPDATE audit_entries SET seq = position")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_entries_chain"), type_="unique")
        batch_op.drop_column("position")
        batch_op.drop_column("chain")
