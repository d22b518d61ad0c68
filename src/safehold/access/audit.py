"""The audit log: every read and write of personal data appends a chained entry in the same
transaction as the access it records (so a rolled-back access leaves no entry, and no access
commits without one)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from safehold.access import chain
from safehold.access.models import AuditEntry, AuditHead
from safehold.access.rules import Actor
from safehold.clock import Clock

HEAD_ID = 1
VERIFY_BATCH = 1_000
HEAD: Table = AuditHead.__table__  # type: ignore[assignment]
ENTRIES: Table = AuditEntry.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Recorded:
    """What :func:`record` appended."""

    seq: int
    subject_id: uuid.UUID | None
    prev_hash: str
    hash: str


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
    """Append one entry. Taking the head row's lock first orders concurrent writers.

    Core statements on the session's connection (not ORM objects): this runs on every access
    to personal data, and the unit of work would cost more than the three statements."""
    conn = session.connection()
    seq, prev_hash = conn.execute(
        update(HEAD)
        .where(HEAD.c.id == HEAD_ID)
        .values(last_seq=HEAD.c.last_seq + 1)
        .returning(HEAD.c.last_seq, HEAD.c.last_hash)
    ).one()
    data = chain.EntryData(
        seq=seq,
        at=clock.now(),
        actor=f"{actor.kind}:{actor.id}",
        action=action,
        subject_id=str(subject_id) if subject_id else None,
        categories=tuple(sorted(set(categories))),
        purpose=purpose,
        outcome=outcome,
        request_id=actor.request_id,
    )
    digest = chain.link_hash(prev_hash, data)
    conn.execute(
        insert(ENTRIES).values(
            seq=seq,
            at=data.at,
            actor=data.actor,
            action=action,
            subject_id=subject_id,
            categories=list(data.categories),
            purpose=purpose,
            outcome=outcome,
            request_id=actor.request_id,
            prev_hash=prev_hash,
            hash=digest,
        )
    )
    conn.execute(update(HEAD).where(HEAD.c.id == HEAD_ID).values(last_hash=digest))
    return Recorded(seq, subject_id, prev_hash, digest)


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
            _links(rows, session), (head.last_seq, head.last_hash) if head else None
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
