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

from sqlalchemy import delete, select, update
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
from safehold.subjects.models import PaymentMethod, PersonalValue, Subject
from safehold.subjects.rules import PAYMENT
from safehold.vault.models import DataKey
from safehold.web import sessions as web_sessions

ACTOR = Actor("system", "backup-restore")
PURPOSE = "legal_obligation"  # re-applying an erasure is the controller's duty, as erasing is
CHECK_BATCH = 500  # people looked up per query when comparing the ledger with the database
REPLAY_BATCH = 200  # entries re-applied per transaction
SETTLE_SECONDS = 2.0  # a shred in flight in another process commits well within this


@dataclass(frozen=True)
class Replayed:
    erasures: int
    retention_shreds: int
    keys_destroyed: int
    seconds: float


def _names(entry: Entry, key: DataKey) -> bool:
    return (entry.classes is None or key.retention_class in entry.classes) and (
        key.created_at <= entry.at
    )


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
    outstanding."""
    started = time.perf_counter()
    ordered = sorted(entries, key=lambda e: e.at)
    erasures = shreds = keys = 0
    for start in range(0, len(ordered), REPLAY_BATCH):
        batch = ordered[start : start + REPLAY_BATCH]
        with transaction(sessions) as session:
            for entry in batch:
                keys += _destroy_keys(session, entry)
                if entry.kind == ERASURE:
                    _erase_rows(session, entry, policy, clock)
                    erasures += 1
                else:
                    _expire_rows(session, entry, policy)
                    shreds += 1
                audit.record(
                    session, actor=ACTOR, action=f"backup.replay.{entry.kind}",
                    subject_id=entry.subject_id, categories=[], purpose=PURPOSE,
                    outcome="ok", clock=clock,
                )  # fmt: skip
        if progress is not None:
            progress(len(batch))
    return Replayed(erasures, shreds, keys, time.perf_counter() - started)


def _destroy_keys(session: Session, entry: Entry) -> int:
    statement = delete(DataKey).where(
        DataKey.subject_id == entry.subject_id, DataKey.created_at <= entry.at
    )
    if entry.classes is not None:
        statement = statement.where(DataKey.retention_class.in_(entry.classes))
    return len(session.execute(statement.returning(DataKey.retention_class)).all())


def _in_classes(column: object, entry: Entry) -> object:
    return True if entry.classes is None else column.in_(entry.classes)  # type: ignore[attr-defined]


def _card_classes(policy: Policy) -> tuple[str, str]:
    return policy.retention_class(PAYMENT, "processor_token"), policy.retention_class(
        PAYMENT, "last4"
    )


def _cards(session: Session, entry: Entry, policy: Policy) -> None:
    token_class, record_class = _card_classes(policy)
    mine = PaymentMethod.subject_id == entry.subject_id
    classes = entry.classes
    if classes is None or record_class in classes:
        session.execute(delete(PaymentMethod).where(mine, PaymentMethod.created_at <= entry.at))
    elif token_class in classes:
        session.execute(
            update(PaymentMethod)
            .where(mine, PaymentMethod.created_at <= entry.at)
            .values(token=b"")
            .execution_options(synchronize_session=False)
        )


def _expire_rows(session: Session, entry: Entry, policy: Policy) -> None:
    """A retention shred: the class's values of that time go with their key."""
    session.execute(
        delete(PersonalValue).where(
            PersonalValue.subject_id == entry.subject_id,
            _in_classes(PersonalValue.retention_class, entry),  # type: ignore[arg-type]
            PersonalValue.updated_at <= entry.at,
        )
    )
    _cards(session, entry, policy)


def _erase_rows(session: Session, entry: Entry, policy: Policy, clock: Clock) -> None:
    """What the erasure deleted (requests.jobs ``delete_rows``, ``delete_events``,
    ``close_subject``), for the classes it shredded; kept classes stay."""
    subject = session.get(Subject, entry.subject_id)
    if subject is None:
        return  # registered after this backup: nothing of them is here
    if subject.email_index is not None:
        suppression.suppress_erased(session, subject.email_index, clock=clock, actor=ACTOR)
    session.execute(
        delete(PersonalValue).where(
            PersonalValue.subject_id == entry.subject_id,
            _in_classes(PersonalValue.retention_class, entry),  # type: ignore[arg-type]
        )
    )
    _cards(session, entry, policy)
    session.execute(delete(MarketingChoice).where(MarketingChoice.subject_id == subject.id))
    session.execute(delete(Acceptance).where(Acceptance.subject_id == subject.id))
    web_sessions.end_all_for(session, subject.id)
    events.erase(session, subject.id)
    session.execute(
        update(Subject)
        .where(Subject.id == subject.id)
        .values(
            status="erased",
            erased_at=entry.at,
            closed_at=subject.closed_at or entry.at,
            email_index=None,
            phone_index=None,
        )
        .execution_options(synchronize_session="fetch")
    )


def unreadable(session: Session, entries: Sequence[Entry]) -> list[str]:
    """Problems: an erased person still readable (a key, or un-erased) after replay."""
    return [
        f"{e.kind} {e.id} of person {e.subject_id}: still readable"
        for e in outstanding(session, entries)
    ]
