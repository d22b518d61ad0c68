"""The audit chain's links are keyed (HMAC-SHA256 under the audit key, decision 0030): the
existing unkeyed chain is sealed by a first keyed entry whose link covers its last hash.

The entries are now linked where the audit key is (in the application, not by the
database), so the trigger that moved the head on insert (0016) goes: a writer takes its
numbers with the head row's lock and moves the head itself. The key is never stored: Safehold
passes it in (``migrate.upgrade(..., audit_key=...)``, as every ``safehold`` command does);
a log that holds entries cannot be sealed without it, so the upgrade then stops.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import safehold.db
from safehold.access import chain

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEAL_ACTION = "audit.sealed"
SEAL_ACTOR = "system:migration-0026"
MOVE = (
    "UPDATE audit_head SET last_seq = NEW.seq, last_hash = NEW.hash "
    "WHERE id = 1 AND last_seq < NEW.seq"
)


def upgrade() -> None:
    if _pg():
        op.execute("DROP TRIGGER audit_head_follows ON audit_entries")
        op.execute("DROP FUNCTION audit_head_follows()")
    else:
        op.execute("DROP TRIGGER audit_head_follows")
    _seal()


def _seal() -> None:
    """Append the keyed seal after the last unkeyed entry (nothing to seal in an empty log)."""
    bind = op.get_bind()
    last = bind.execute(sa.text("SELECT last_seq, last_hash FROM audit_head WHERE id = 1")).one()
    if last.last_seq == 0:
        return
    key = op.get_context().config.attributes.get("audit_key")  # type: ignore[union-attr]
    if not isinstance(key, bytes):
        raise RuntimeError(
            "the audit log holds entries that must be sealed with the audit key: "
            "upgrade with `safehold upgrade`, which reads the key from the key provider"
        )
    entries = sa.table(
        "audit_entries",
        sa.column("at", safehold.db.UTCDateTime(timezone=True)),
        sa.column("categories", sa.JSON()),
        sa.column("subject_id", sa.Uuid()),
        *(
            sa.column(name)
            for name in ("seq", "actor", "action", "purpose", "outcome", "request_id")
        ),
        sa.column("prev_hash"),
        sa.column("hash"),
    )
    seal = chain.EntryData(
        seq=last.last_seq + 1,
        at=datetime.now(UTC),
        actor=SEAL_ACTOR,
        action=SEAL_ACTION,
        subject_id=None,
        categories=(),
        purpose=None,
        outcome="sealed",
        request_id=None,
    )
    digest = chain.link_hash(key, 0, last.last_hash, seal)
    bind.execute(
        entries.insert().values(
            seq=seal.seq,
            at=seal.at,
            actor=seal.actor,
            action=seal.action,
            subject_id=None,
            categories=[],
            purpose=None,
            outcome=seal.outcome,
            request_id=None,
            prev_hash=last.last_hash,
            hash=digest,
        )
    )
    bind.execute(
        sa.text("UPDATE audit_head SET last_seq = :seq, last_hash = :hash WHERE id = 1"),
        {"seq": seal.seq, "hash": digest},
    )


def downgrade() -> None:
    """The seal stays (an entry like any other); the head follows inserts again."""
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


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"
