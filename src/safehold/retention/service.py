"""Legal holds: place, lift, list. A hold names a person and categories; erasure (and later
the retention sweep) keeps exactly those and reports the hold. Services flush, never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.clock import Clock
from safehold.policy import Policy
from safehold.retention import rules
from safehold.retention.errors import HoldInvalid, HoldLifted, HoldNotFound
from safehold.retention.models import LegalHold
from safehold.subjects import service as subjects

LEGAL = "legal_obligation"


def place(
    session: Session, *, policy: Policy, clock: Clock, actor: Actor, subject_id: uuid.UUID,
    categories: Sequence[str], reason: str, legal_basis: str, until: datetime,
) -> LegalHold:  # fmt: skip
    subject = subjects.get(session, subject_id)
    now = clock.now()
    wanted = sorted(set(categories))
    if not wanted:
        raise HoldInvalid("a hold names at least one category", details={"field": "categories"})
    unknown = rules.unknown_categories(wanted, policy.category_ids)
    if unknown:
        raise HoldInvalid("unknown categories", details={"field": "categories", "unknown": unknown})
    if until <= now:
        raise HoldInvalid("a hold must end in the future", details={"field": "until"})
    if not reason.strip() or not legal_basis.strip():
        raise HoldInvalid("a hold needs a reason and a legal basis", details={})
    hold = LegalHold(
        id=uuid.uuid4(), subject_id=subject.id, categories=wanted, reason=reason.strip(),
        legal_basis=legal_basis.strip(), until=until, created_at=now, created_by=str(actor),
        lifted_at=None, lifted_by=None,
    )  # fmt: skip
    session.add(hold)
    audit.record(
        session, actor=actor, action="hold.place", subject_id=subject.id, categories=wanted,
        purpose=LEGAL, outcome="ok", clock=clock,
    )  # fmt: skip
    session.flush()
    return hold


def get(session: Session, hold_id: uuid.UUID) -> LegalHold:
    hold = session.scalars(select(LegalHold).where(LegalHold.id == hold_id)).first()
    if hold is None:
        raise HoldNotFound("no legal hold with that id", details={"hold_id": str(hold_id)})
    return hold


def lift(session: Session, hold_id: uuid.UUID, *, clock: Clock, actor: Actor) -> LegalHold:
    hold = get(session, hold_id)
    if hold.lifted_at is not None:
        raise HoldLifted("this hold was already lifted", details={})
    hold.lifted_at, hold.lifted_by = clock.now(), str(actor)
    audit.record(
        session, actor=actor, action="hold.lift", subject_id=hold.subject_id,
        categories=hold.categories, purpose=LEGAL, outcome="ok", clock=clock,
    )  # fmt: skip
    session.flush()
    return hold


def holds(
    session: Session, *, subject_id: uuid.UUID | None = None, active_at: datetime | None = None
) -> list[LegalHold]:
    """Holds, newest first: of one person, and (with ``active_at``) only those in force."""
    query = select(LegalHold).order_by(LegalHold.created_at.desc(), LegalHold.id)
    if subject_id is not None:
        query = query.where(LegalHold.subject_id == subject_id)
    found = list(session.scalars(query))
    if active_at is None:
        return found
    return [h for h in found if rules.is_active(h.lifted_at, h.until, active_at)]
