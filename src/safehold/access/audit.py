"""The audit log: every read and write of personal data appends a chained entry in the same
transaction as the access it records (so a rolled-back access leaves no entry, and no access
commits without one)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from safehold.access import chain
from safehold.access.models import AuditEntry, AuditHead
from safehold.access.rules import Actor
from safehold.clock import Clock
from safehold.db import AUDIT_KEY

HEAD_ID = 1
CHAIN_ID = 0  # the one chain; its links name it
VERIFY_BATCH = 1_000
MAX_SEQ = 2**63 - 1  # the largest entry number the column (BIGINT) holds: a bound for queries
HEAD: Table = AuditHead.__table__  # type: ignore[assignment]
ENTRIES: Table = AuditEntry.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Recorded:
    """What :func:`record` appended."""

    seq: int
    subject_id: uuid.UUID | None
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Access:
    """One access to append with :func:`record_many`: what :func:`record` takes, as data."""

    actor: Actor
    action: str
    subject_id: uuid.UUID | None
    categories: Iterable[str]
    purpose: str | None
    outcome: str


# Built once: these run on every access to personal data. ``n`` entries take ``n`` numbers:
# the UPDATE takes the head row's lock (PostgreSQL's row lock, SQLite's write lock) before
# anything reads it, so concurrent writers are ordered and none slips an entry in between.
_TAKE = (
    update(HEAD)
    .where(HEAD.c.id == HEAD_ID)
    .values(last_seq=HEAD.c.last_seq + bindparam("n"))
    .returning(HEAD.c.last_seq, HEAD.c.last_hash)
)
_APPEND = insert(ENTRIES)
_MOVE_HEAD = update(HEAD).where(HEAD.c.id == HEAD_ID).values(last_hash=bindparam("head_hash"))


def audit_key(session: Session) -> bytes:
    """The audit key the session's factory carries (:func:`safehold.runtime.Runtime` puts it
    there, derived from the key provider). There is no unkeyed fallback: a session without
    it cannot append to or verify the log."""
    key = session.info.get(AUDIT_KEY)
    if not isinstance(key, bytes):
        raise RuntimeError("this session carries no audit key (build it through a Runtime)")
    return key


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    subject_id: uuid.UUID | None,
    categories: Iterable[str],
    purpose: str | None,
    outcome: str,
    clock: Clock,
) -> Recorded:
    """Append one entry (:func:`record_many` with one access)."""
    access = Access(actor, action, subject_id, categories, purpose, outcome)
    return record_many(session, [access], clock=clock)[0]


def record_many(session: Session, accesses: Sequence[Access], *, clock: Clock) -> list[Recorded]:
    """Append one entry per access, chained in the given order.

    Three statements however many there are: take the head row's lock and
    ``len(accesses)`` sequence numbers, insert every entry (links computed here with the audit
    key, under that lock), move the head. Core statements on the session's connection, not
    ORM objects: this runs on every access to personal data."""
    if not accesses:
        return []
    key = audit_key(session)
    conn = session.connection()
    at = clock.now()
    last_seq, prev_hash = conn.execute(_TAKE, {"n": len(accesses)}).one()
    rows: list[dict[str, object]] = []
    recorded: list[Recorded] = []
    for seq, access in enumerate(accesses, start=last_seq - len(accesses) + 1):
        data = _entry_data(access, seq, at)
        digest = chain.link_hash(key, CHAIN_ID, prev_hash, data)
        rows.append(
            _row(data, access.subject_id) | {"seq": seq, "prev_hash": prev_hash, "hash": digest}
        )
        recorded.append(Recorded(seq, access.subject_id, prev_hash, digest))
        prev_hash = digest
    conn.execute(_APPEND, rows)  # one row: one statement; more: executemany, one round trip
    conn.execute(_MOVE_HEAD, {"head_hash": prev_hash})
    return recorded


def _entry_data(access: Access, seq: int, at: datetime) -> chain.EntryData:
    actor = access.actor
    return chain.EntryData(
        seq=seq,
        at=at,
        actor=f"{actor.kind}:{actor.id}",
        action=access.action,
        subject_id=str(access.subject_id) if access.subject_id else None,
        categories=tuple(sorted(set(access.categories))),
        purpose=access.purpose,
        outcome=access.outcome,
        request_id=actor.request_id,
    )


def _row(data: chain.EntryData, subject_id: uuid.UUID | None) -> dict[str, object]:
    """The entry's columns but its number and hashes."""
    return {
        "at": data.at, "actor": data.actor, "action": data.action, "subject_id": subject_id,
        "categories": list(data.categories), "purpose": data.purpose, "outcome": data.outcome,
        "request_id": data.request_id,
    }  # fmt: skip


def as_data(entry: AuditEntry) -> chain.EntryData:
    return chain.EntryData(
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        subject_id=str(entry.subject_id) if entry.subject_id else None,
        categories=tuple(entry.categories),
        purpose=entry.purpose,
        outcome=entry.outcome,
        request_id=entry.request_id,
    )


def _links(
    rows: Iterable[AuditEntry], session: Session
) -> Iterator[tuple[chain.EntryData, str, str]]:
    for entry in rows:
        yield as_data(entry), entry.prev_hash, entry.hash
        session.expunge(entry)  # keep memory flat over millions of entries


def verify(session: Session) -> chain.Verification:
    """Walk the whole chain in seq order; the result names the first broken link."""
    head = session.get(AuditHead, HEAD_ID)
    rows = session.scalars(
        select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=VERIFY_BATCH)
    )
    try:
        return chain.verify(
            _links(rows, session),
            (head.last_seq, head.last_hash) if head else None,
            key=audit_key(session),
            chain_id=CHAIN_ID,
        )
    finally:
        rows.close()  # a break stops early: release the server-side cursor


def entries(
    session: Session, *, subject_id: uuid.UUID | None, after: int = 0, limit: int = 100
) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(limit)
    if subject_id is not None:
        query = query.where(AuditEntry.subject_id == subject_id)
    return list(session.scalars(query))
