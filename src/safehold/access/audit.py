"""The audit log: every read and write of personal data appends a chained entry in the same
transaction as the access it records (so a rolled-back access leaves no entry, and no access
commits without one)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from safehold.access import append, chain, chains, checkpoints
from safehold.access.audit_keys import AuditKeys
from safehold.access.models import AuditEntry, AuditHead
from safehold.access.rules import Actor
from safehold.clock import Clock
from safehold.db import AUDIT_KEY

VERIFY_BATCH = 1_000
MAX_SEQ = 2**63 - 1  # the largest entry number the column (BIGINT) holds: a bound for queries
HEAD: Table = AuditHead.__table__  # type: ignore[assignment]
ENTRIES: Table = AuditEntry.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Recorded:
    """What :func:`record` appended: ``seq`` is the row's number (across chains, as the
    console and the API page), ``position`` the entry's place on its chain."""

    seq: int
    chain: int
    position: int
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


# Built once: this runs on every access to personal data. The entry's ``seq`` (its row
# number across all chains, for paging) is the database's own (a sequence on PostgreSQL, the
# rowid on SQLite); the head row follows by trigger (``access.chains``).
_APPEND = insert(ENTRIES).returning(ENTRIES.c.seq, sort_by_parameter_order=True)


def audit_keys(session: Session) -> AuditKeys:
    """The audit key versions the session's factory carries (:class:`safehold.runtime.Runtime`
    puts them there; a bare key is version 0 alone). There is no unkeyed fallback: a session
    without them cannot append to or verify the log."""
    keys = session.info.get(AUDIT_KEY)
    if isinstance(keys, bytes):
        keys = AuditKeys(keys)
        session.info[AUDIT_KEY] = keys
    if not isinstance(keys, AuditKeys):
        raise RuntimeError("this session carries no audit key (build it through a Runtime)")
    return keys


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
    """Append one entry per access, chained in the given order, on the chain the session's
    connection owns (``access.chains``).

    One statement however many there are: the chain's end is known to its owner, the links
    are computed here with the audit key, and the database moves the head (refusing entries
    that do not extend it). Core statements on the session's connection, not ORM objects:
    this runs on every access to personal data."""
    if not accesses:
        return []
    conn = session.connection()
    version, key = audit_keys(session).for_append(conn)
    at = clock.now()
    owner = chains.owned(conn)
    chain_id = owner.chain
    last, prev_hash = owner.end()
    rows: list[dict[str, object]] = []
    links: list[tuple[int, uuid.UUID | None, str, str]] = []
    for position, access in enumerate(accesses, start=last + 1):
        data = _entry_data(access, position, at)
        digest = chain.link_hash(key, chain_id, prev_hash, data)
        rows.append(
            _row(data, access.subject_id)
            | {
                "chain": chain_id,
                "position": position,
                "prev_hash": prev_hash,
                "hash": digest,
                "key_version": version,
            }
        )
        links.append((position, access.subject_id, prev_hash, digest))
        prev_hash = digest
    try:
        if len(rows) == 1:  # every audited access: through the driver (access.append)
            numbers: Sequence[int] = [append.one(conn, rows[0])]
        else:  # in the order of ``rows``
            numbers = conn.execute(_APPEND, rows).scalars().all()
    except BaseException:
        chains.failed(owner)
        raise
    chains.appended(owner, links[-1][0], prev_hash)
    return [
        Recorded(seq, chain_id, position, subject_id, prev, digest)
        for seq, (position, subject_id, prev, digest) in zip(numbers, links, strict=True)
    ]


def _entry_data(access: Access, position: int, at: datetime) -> chain.EntryData:
    actor = access.actor
    return chain.EntryData(
        seq=position,
        at=at,
        actor=actor.audit_name,
        action=access.action,
        subject_id=str(access.subject_id) if access.subject_id else None,
        categories=tuple(sorted(set(access.categories))),
        purpose=access.purpose,
        outcome=access.outcome,
        request_id=actor.request_id,
    )


def _row(data: chain.EntryData, subject_id: uuid.UUID | None) -> dict[str, object]:
    """The entry's columns but its chain, position and hashes."""
    return {
        "at": data.at, "actor": data.actor, "action": data.action, "subject_id": subject_id,
        "categories": list(data.categories), "purpose": data.purpose, "outcome": data.outcome,
        "request_id": data.request_id,
    }  # fmt: skip


def as_data(entry: AuditEntry) -> chain.EntryData:
    """What the entry's link covers (its ``seq`` there is its position on its chain)."""
    return chain.EntryData(
        seq=entry.position,
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        subject_id=str(entry.subject_id) if entry.subject_id else None,
        categories=tuple(entry.categories),
        purpose=entry.purpose,
        outcome=entry.outcome,
        request_id=entry.request_id,
    )


# What verify reads: plain rows (no ORM objects to build and expunge over millions of
# entries), in the order ``_links`` takes them.
_WALKED = (
    ENTRIES.c.position, ENTRIES.c.at, ENTRIES.c.actor, ENTRIES.c.action, ENTRIES.c.subject_id,
    ENTRIES.c.categories, ENTRIES.c.purpose, ENTRIES.c.outcome, ENTRIES.c.request_id,
    ENTRIES.c.prev_hash, ENTRIES.c.hash, ENTRIES.c.key_version,
)  # fmt: skip


def _links(rows: Iterable[Any]) -> Iterator[tuple[chain.EntryData, str, str, int]]:
    for position, at, actor, action, subject, categories, purpose, outcome, req, prev, h, v in rows:
        data = chain.EntryData(
            position, at, actor, action, str(subject) if subject else None, tuple(categories),
            purpose, outcome, req,
        )  # fmt: skip
        yield data, prev, h, v


def verify(
    session: Session, *, outside: Iterable[tuple[str, checkpoints.Checkpoint | None]] = ()
) -> chain.Verification:
    """Walk every chain in position order, then check the checkpoints (the database's, and
    copies kept ``outside`` it: ``checkpoints.check``). The result names the first broken
    place, counts every entry, and digests every chain's head (``chain.heads_digest``)."""
    keys = audit_keys(session)
    readable = keys.readable(session.connection())
    used = set(session.scalars(select(AuditEntry.chain).distinct()))
    checked, tips = 0, {}
    for chain_id in sorted(used | set(session.scalars(select(AuditHead.id)))):
        # The last position first, then the head: the head moves in the transaction that
        # inserts, so one read after the other covers every entry committed by then, while
        # writers go on appending (the walk stops at the head it read).
        last = session.scalar(
            select(func.max(AuditEntry.position)).where(AuditEntry.chain == chain_id)
        )
        head = session.get(AuditHead, chain_id, populate_existing=True)
        if head is None:
            return chain.Verification(checked, "", chain.Break(1, "chain head missing", chain_id))
        if last is not None and last > head.last_seq:
            past = chain.Break(head.last_seq + 1, "entry past the chain's head", chain_id)
            return chain.Verification(checked, "", past)
        rows = session.execute(
            select(*_WALKED)
            .where(ENTRIES.c.chain == chain_id, ENTRIES.c.position <= head.last_seq)
            .order_by(ENTRIES.c.position)
            .execution_options(yield_per=VERIFY_BATCH)
        )
        try:
            result = chain.verify(
                _links(rows),
                (head.last_seq, head.last_hash),
                key=readable.get,
                chain_id=chain_id,
            )
        finally:
            rows.close()  # a break stops early: release the server-side cursor
        checked += result.checked
        if result.broken is not None:
            return chain.Verification(
                checked, "", dataclasses.replace(result.broken, chain=chain_id)
            )
        tips[chain_id] = (result.checked, result.head_hash)
    broken = checkpoints.check(session, keys, outside=outside)
    return chain.Verification(checked, chain.heads_digest(tips), broken)


def entries(
    session: Session, *, subject_id: uuid.UUID | None, after: int = 0, limit: int = 100
) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(limit)
    if subject_id is not None:
        query = query.where(AuditEntry.subject_id == subject_id)
    return list(session.scalars(query))
