"""What the policy decision needs to know about people — account status, the marketing
choice in force, objections, purposes pending acceptance after a material policy change and
the version they are still handled under (``notices.rules.handled_under``) —
read for one person, for many at once, or as columns of the read path's one query
(``subjects.reading``).

The meaning stays where it is owned: the choice in force is the newest record
(``comms.preferences.current_choice``) read through ``comms.rules.marketing_sets``; the
accepted version is the newest accepting record (``notices.service.accepted_seq``) read
through ``notices.rules.pending_purposes``; objections are ``analytics``' Art. 21 records.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from safehold.analytics.models import Objection
from safehold.comms import preferences
from safehold.comms.rules import marketing_sets
from safehold.notices import rules as notice_rules
from safehold.notices.book import PolicyBook
from safehold.notices.models import Acceptance
from safehold.notices.rules import VersionFacts
from safehold.policy.rules import SubjectState
from safehold.subjects.models import Subject

STATE_CHUNK = 500  # people per IN (...) list in states_of

# Correlated subqueries over ``subjects``: the newest marketing choice, the newest accepted
# policy version (the same orderings as comms.preferences.current_choice and
# notices.service.accepted_seq).
LATEST_CHOICE = preferences.latest_choice_column()
ACCEPTED_SEQ = (
    select(func.max(Acceptance.version_seq))
    .where(
        Acceptance.subject_id == Subject.id,
        # one bound value each, not an expanding list: the statement compiles once
        Acceptance.method.in_([literal(m) for m in sorted(notice_rules.ACCEPTING_METHODS)]),
    )
    .correlate(Subject)
    .scalar_subquery()
)


def state_of(
    session: Session, subject: Subject, book: PolicyBook | None = None, now: datetime | None = None
) -> SubjectState:
    """What the decision needs to know about the person: status, marketing choice, and the
    purposes added by a material policy change they have not accepted yet."""
    return states_of(session, [subject], book, now)[subject.id]


def states_of(
    session: Session, subjects: Iterable[Subject], book: PolicyBook | None = None,
    now: datetime | None = None,
) -> dict[uuid.UUID, SubjectState]:  # fmt: skip
    """:func:`state_of` for many people at once (an ingested batch, an outbox round): two
    queries per :data:`STATE_CHUNK` people instead of three per person."""
    people = {s.id: s for s in subjects}
    pending_too = book is not None and now is not None
    facts: dict[uuid.UUID, tuple[str | None, int]] = {}
    objected: dict[uuid.UUID, set[str]] = defaultdict(set)
    ids = sorted(people)
    for start in range(0, len(ids), STATE_CHUNK):
        chunk = ids[start : start + STATE_CHUNK]
        columns = [Subject.id, LATEST_CHOICE]
        if pending_too:
            columns.append(ACCEPTED_SEQ)
        for row in session.execute(select(*columns).where(Subject.id.in_(chunk))):
            facts[row[0]] = (row[1], int(row[2] or 0) if pending_too else 0)
        for sid, purpose in session.execute(
            select(Objection.subject_id, Objection.purpose).where(
                Objection.subject_id.in_(chunk), Objection.withdrawn_at.is_(None)
            )
        ):
            objected[sid].add(purpose)
    versions = book.facts() if pending_too and book is not None else ()
    return {
        sid: state_from(
            subject.status, *facts.get(sid, (None, 0)), objected.get(sid, ()), versions, now
        )
        for sid, subject in people.items()
    }


def state_from(
    status: str, choice: str | None, accepted: int, objected: Iterable[str],
    versions: Sequence[VersionFacts], now: datetime | None,
) -> SubjectState:  # fmt: skip
    """The decision's view of a person from the facts read about them (``versions`` empty:
    no pending acceptance asked for)."""
    opted_out, consented = marketing_sets(choice)
    return SubjectState(
        account_status=status,  # type: ignore[arg-type]
        opted_out=opted_out,
        objected=frozenset(objected),
        consented=consented,
        pending_acceptance=(
            notice_rules.pending_purposes(versions, accepted, now)
            if versions and now is not None
            else frozenset()
        ),
        handled_under=(
            notice_rules.handled_under(versions, accepted, now)
            if versions and now is not None
            else None
        ),
    )
