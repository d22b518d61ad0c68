"""The erasure plan for a person as it stands now: what an erasure would erase and what it
would keep (under a retention exception or a legal hold), why and until when.

The erasure job's first step records this plan and then carries it out; the privacy center
shows the same plan to the person *before* they confirm a deletion request, so what they
are told is what the job will do (unless a hold is placed or lifted in between, which the
certificate then reports). Reads only ids, categories, classes and dates: nothing is
decrypted, so there is nothing personal to audit here.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safehold.requests import rules, service
from safehold.retention import service as holds
from safehold.subjects import payments
from safehold.subjects import service as subjects
from safehold.subjects.models import PaymentMethod, PersonalValue
from safehold.subjects.rules import PAYMENT
from safehold.vault import epochs
from safehold.vault.models import DataKey


def stored(session: Session, ctx: service.Context, subject_id: uuid.UUID) -> dict[str, set[str]]:
    """Category -> retention classes the person has data under (values, cards, any key)."""
    found: dict[str, set[str]] = {}
    for category, klass in session.execute(
        select(PersonalValue.category, PersonalValue.retention_class)
        .where(PersonalValue.subject_id == subject_id)
        .distinct()
    ):
        found.setdefault(category, set()).add(klass)
    if session.scalar(select(func.count()).where(PaymentMethod.subject_id == subject_id)):
        found.setdefault(PAYMENT, set()).update(
            ctx.policy.retention_class(PAYMENT, name) for name in payments.FIELDS
        )
    for key_class in session.scalars(
        select(DataKey.retention_class).where(DataKey.subject_id == subject_id)
    ):
        klass = epochs.base_class(key_class)  # a month epoch's key is its class's
        if any(klass in classes for classes in found.values()):
            continue
        for category in rules.categories_of_class(ctx.policy, klass):
            found.setdefault(category, set()).add(klass)
    return found


def plan_for(session: Session, ctx: service.Context, subject_id: uuid.UUID) -> rules.Plan:
    """The plan for the person at the clock's "now" (an unknown person: 404)."""
    subject = subjects.get(session, subject_id, allow_erased=True)
    now = ctx.clock.now()
    collected = session.scalar(
        select(func.max(PersonalValue.updated_at)).where(PersonalValue.subject_id == subject.id)
    )
    times = rules.Times(
        collected=collected or subject.created_at,
        last_activity=subject.last_activity_at,
        account_closed=subject.closed_at or now,
    )
    active = [
        rules.Hold(str(h.id), frozenset(h.categories), h.reason, h.legal_basis, h.until)
        for h in holds.holds(session, subject_id=subject.id, active_at=now)
    ]
    return rules.plan(ctx.policy, stored(session, ctx, subject.id), active, times)
