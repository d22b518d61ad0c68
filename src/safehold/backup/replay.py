"""Bringing a database back to the erasure ledger: which shreds it has not seen, and applying
them before it serves anyone.

An entry is *outstanding* in a database that still holds a data key it names which was
created no later than the entry (a key made afterwards is a new one: a person's usage class
shredded by retention gets a fresh key with their next event) — or, for an erasure, that
still holds the person un-erased. A restored backup older than a shred has exactly those;
the live database, where the shred committed, has none. Replay destroys those keys and, for
an erasure, deletes what the erasure deleted and marks the person erased; each replayed entry
is written to the audit log. Recipients are not told again (they were told at the erasure).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, or_, select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.backup.ledger import ERASURE, Entry
from safehold.clock import Clock
from safehold.comms import suppression
from safehold.comms.models import MarketingChoice
from safehold.db import transaction
from safehold.events import history as events
from safehold.notices.models import Acceptance
from safehold.policy import Policy
from safehold.subjects import emails
from safehold.subjects.models import PaymentMethod, PersonalValue, Subject
from safehold.subjects.rules import PAYMENT
from safehold.vault import epochs
from safehold.vault.models import DataKey
from safehold.web import sessions as web_sessions

ACTOR = Actor("system", "backup-restore")
PURPOSE = "legal_obligation"  # re-applying an erasure is the controller's duty, as erasing is
CHECK_BATCH = 500  # people looked up per query when comparing the ledger with the database
REPLAY_BATCH = 500  # entries re-applied per transaction
SETTLE_SECONDS = 2.0  # a shred in flight in another process commits well within this


@dataclass(frozen=True)
class Replayed:
    erasures: int
    retention_shreds: int
    keys_destroyed: int
    seconds: float


def _names(entry: Entry, key: DataKey) -> bool:
    return epochs.in_classes(key.retention_class, entry.classes) and (key.created_at <= entry.at)


def outstanding(session: Session, entries: Sequence[Entry]) -> list[Entry]:
    """The entries this database has not seen (module docstring), in ledger order."""
    found: list[Entry] = []
    for start in range(0, len(entries), CHECK_BATCH):
        chunk = entries[start : start + CHECK_BATCH]
        ids = list({e.subject_id for e in chunk})
        keys: dict[uuid.UUID, list[DataKey]] = {}
        for key in session.scalars(select(DataKey).where(DataKey.subject_id.in_(ids))):
            keys.setdefault(key.subject_id, []).append(key)
        rows = session.execute(select(Subject.id, Subject.status).where(Subject.id.in_(ids)))
        status = {row.id: row.status for row in rows}
        for entry in chunk:
            live = any(_names(entry, k) for k in keys.get(entry.subject_id, []))
            unerased = entry.kind == ERASURE and status.get(entry.subject_id, "erased") != "erased"
            if live or unerased:
                found.append(entry)
    return found


def settled_outstanding(
    sessions: sessionmaker[Session], entries: Sequence[Entry], *, wait: float = SETTLE_SECONDS
) -> list[Entry]:
    """:func:`outstanding`, asked twice when the first answer is not empty: an entry a live
    process has just written and is about to commit is not outstanding for long."""
    with transaction(sessions) as session:
        first = outstanding(session, entries)
    if not first or wait <= 0:
        return first
    time.sleep(wait)
    with transaction(sessions) as session:
        again = {e.id for e in outstanding(session, first)}
    return [e for e in first if e.id in again]


def replay(
    sessions: sessionmaker[Session], entries: Iterable[Entry], *, policy: Policy, clock: Clock,
    progress: Callable[[int], None] | None = None,
) -> Replayed:  # fmt: skip
    """Re-apply ``entries`` (outstanding ones: :func:`outstanding`), oldest first, a batch per
    transaction, each with its audit entry. Safe to run again: a re-applied entry is no longer
    outstanding. Per batch, one statement per table where it can (keys, values, cards,
    choices, acceptances, people, the audit entries); per person, what their own package
    erases (events, privacy-center sessions, the suppression of their address)."""
    started = time.perf_counter()
    ordered = sorted(entries, key=lambda e: e.at)
    erasures = shreds = keys = 0
    for start in range(0, len(ordered), REPLAY_BATCH):
        batch = ordered[start : start + REPLAY_BATCH]
        with transaction(sessions) as session:
            keys += _destroy_keys(session, batch)
            erased = [e for e in batch if e.kind == ERASURE]
            _erase_rows(session, erased, policy, clock)
            for entry in batch:
                if entry.kind != ERASURE:
                    _expire_rows(session, entry, policy)
            audit.record_many(session, [
                audit.Access(ACTOR, f"backup.replay.{e.kind}", e.subject_id, [], PURPOSE, "ok")
                for e in batch
            ], clock=clock)  # fmt: skip
        erasures += len(erased)
        shreds += len(batch) - len(erased)
        if progress is not None:
            progress(len(batch))
    return Replayed(erasures, shreds, keys, time.perf_counter() - started)


def _destroy_keys(session: Session, batch: Sequence[Entry]) -> int:
    """Every key the batch's entries name (created no later than the entry), one DELETE."""
    ids = list({e.subject_id for e in batch})
    held = session.execute(
        select(DataKey.subject_id, DataKey.retention_class, DataKey.created_at).where(
            DataKey.subject_id.in_(ids)
        )
    ).all()
    by_person: dict[uuid.UUID, list[Entry]] = {}
    for entry in batch:
        by_person.setdefault(entry.subject_id, []).append(entry)
    doomed = sorted({
        (sid, klass)
        for sid, klass, created in held
        for entry in by_person.get(sid, [])
        if epochs.in_classes(klass, entry.classes) and created <= entry.at
    })  # fmt: skip
    if not doomed:
        return 0
    session.execute(
        delete(DataKey)
        .where(tuple_(DataKey.subject_id, DataKey.retention_class).in_(doomed))
        .execution_options(synchronize_session=False)
    )
    return len(doomed)


def _card_classes(policy: Policy) -> tuple[str, str]:
    return policy.retention_class(PAYMENT, "processor_token"), policy.retention_class(
        PAYMENT, "last4"
    )


def _values_of(entries: Sequence[Entry]) -> ColumnElement[bool]:
    """Personal values in the entries' classes (every class for a whole erasure)."""
    whole = [e.subject_id for e in entries if e.classes is None]
    pairs = [(e.subject_id, c) for e in entries if e.classes is not None for c in e.classes]
    return or_(
        PersonalValue.subject_id.in_(whole),
        tuple_(PersonalValue.subject_id, PersonalValue.retention_class).in_(pairs),
    )


def _cards(session: Session, entries: Sequence[Entry], policy: Policy) -> None:
    """Cards whose record class went are deleted; with only the token's class, the token."""
    token_class, record_class = _card_classes(policy)
    gone = [e.subject_id for e in entries if e.classes is None or record_class in e.classes]
    trimmed = [
        e.subject_id
        for e in entries
        if e.classes is not None and record_class not in e.classes and token_class in e.classes
    ]
    if gone:
        session.execute(delete(PaymentMethod).where(PaymentMethod.subject_id.in_(gone)))
    if trimmed:
        session.execute(
            update(PaymentMethod)
            .where(PaymentMethod.subject_id.in_(trimmed))
            .values(token=b"")
            .execution_options(synchronize_session=False)
        )


def _expire_rows(session: Session, entry: Entry, policy: Policy) -> None:
    """A retention shred: the class's values and cards of that time go with their key."""
    session.execute(
        delete(PersonalValue).where(_values_of([entry]), PersonalValue.updated_at <= entry.at)
    )
    token_class, record_class = _card_classes(policy)
    classes = entry.classes or ()
    mine = (PaymentMethod.subject_id == entry.subject_id, PaymentMethod.created_at <= entry.at)
    if record_class in classes:
        session.execute(delete(PaymentMethod).where(*mine))
    elif token_class in classes:
        session.execute(
            update(PaymentMethod)
            .where(*mine)
            .values(token=b"")
            .execution_options(synchronize_session=False)
        )


def _erase_rows(session: Session, entries: Sequence[Entry], policy: Policy, clock: Clock) -> None:
    """What the erasures deleted (requests.jobs ``delete_rows``, ``delete_events``,
    ``close_subject``), for the classes they shredded; kept classes stay. People registered
    after the backup are not in it: nothing of them to do."""
    people = {
        p.id: p
        for p in session.scalars(
            select(Subject).where(Subject.id.in_([e.subject_id for e in entries]))
        )
    }
    entries = [e for e in entries if e.subject_id in people]
    if not entries:
        return
    ids = [e.subject_id for e in entries]
    for person in people.values():
        if person.email_index is not None:
            suppression.suppress_erased(session, person.email_index, clock=clock, actor=ACTOR)
        web_sessions.end_all_for(session, person.id)
        events.erase(session, person.id)
    session.execute(delete(PersonalValue).where(_values_of(entries)))
    _cards(session, entries, policy)
    session.execute(delete(MarketingChoice).where(MarketingChoice.subject_id.in_(ids)))
    session.execute(delete(Acceptance).where(Acceptance.subject_id.in_(ids)))
    emails.release(session, people.values())
    session.execute(
        update(Subject),
        [
            {"id": e.subject_id, "status": "erased", "erased_at": e.at,
             "closed_at": people[e.subject_id].closed_at or e.at,
             "email_index": None, "phone_index": None}
            for e in entries
        ],
    )  # fmt: skip


def unreadable(session: Session, entries: Sequence[Entry]) -> list[str]:
    """Problems: an erased person still readable (a key, or un-erased) after replay."""
    return [
        f"{e.kind} {e.id} of person {e.subject_id}: still readable"
        for e in outstanding(session, entries)
    ]
