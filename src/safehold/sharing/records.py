"""Disclosure records read back: who received a person's data and why (their list, with
the refused attempts on request), and the staff list of records."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.policy import Policy
from safehold.sharing import deliveries
from safehold.sharing.errors import DisclosureNotFound
from safehold.sharing.models import Disclosure, DisclosureSubject
from safehold.subjects.service import Context


@dataclass(frozen=True)
class PersonDisclosure:
    """One line of "who received my data and why", for the access export and the privacy
    center: the recipient as the policy describes it, the purpose, the categories, the
    reference and the date."""

    disclosure_id: uuid.UUID | None  # None: received in the course of the service
    at: datetime
    recipient_id: str
    recipient_name: str
    recipient_role: str
    country: str | None
    purpose: str
    purpose_label: str
    categories: tuple[str, ...]
    reference: str | None
    outcome: str
    rule: str | None
    count: int = 1  # e-mails handed to the provider, for a delivery
    first_at: datetime | None = None  # the first of them


def _purpose_label(policy: Policy, purpose: str) -> str:
    return policy.purpose(purpose).label if purpose in policy.purpose_ids else purpose


def disclosures_for(
    session: Session, ctx: Context, subject_id: uuid.UUID, *, include_refused: bool = False
) -> list[PersonDisclosure]:
    """A person's disclosures, oldest first. By default only those that sent them data;
    ``include_refused`` adds the attempts the policy refused for them (with the rule). Then
    what processors received in the course of the service (``deliveries``), one line per
    recipient, purpose and set of categories, dated by the last time."""
    query = (
        select(Disclosure, DisclosureSubject)
        .join(DisclosureSubject, DisclosureSubject.disclosure_id == Disclosure.id)
        .where(DisclosureSubject.subject_id == subject_id)
        .order_by(Disclosure.at, Disclosure.id)
    )
    if not include_refused:
        query = query.where(DisclosureSubject.outcome == "disclosed")
    lines: list[PersonDisclosure] = []
    recipients = ctx.policy.recipient_ids
    for disclosure, person in session.execute(query):
        if person.outcome == "disclosed" and not person.categories:
            continue  # nothing of theirs was held for those categories: nothing went out
        known = disclosure.recipient_id in ctx.policy.recipient_ids
        spec = ctx.policy.recipient(disclosure.recipient_id) if known else None
        lines.append(
            PersonDisclosure(
                disclosure_id=disclosure.id,
                at=disclosure.at,
                recipient_id=disclosure.recipient_id,
                recipient_name=spec.name if spec else disclosure.recipient_id,
                recipient_role=disclosure.recipient_role,
                country=spec.country if spec else None,
                purpose=disclosure.purpose,
                purpose_label=_purpose_label(ctx.policy, disclosure.purpose),
                categories=tuple(person.categories),
                reference=disclosure.reference,
                outcome=person.outcome,
                rule=person.rule,
            )
        )
    for d in deliveries.deliveries_for(session, subject_id):
        spec = ctx.policy.recipient(d.recipient_id) if d.recipient_id in recipients else None
        lines.append(
            PersonDisclosure(
                disclosure_id=None, at=d.last_at, recipient_id=d.recipient_id,
                recipient_name=spec.name if spec else d.recipient_id,
                recipient_role=spec.role.value if spec else "processor",
                country=spec.country if spec else None, purpose=d.purpose,
                purpose_label=_purpose_label(ctx.policy, d.purpose), categories=d.categories,
                reference=None, outcome="disclosed", rule=None, count=d.count,
                first_at=d.first_at,
            )
        )  # fmt: skip
    return lines


def list_disclosures(
    session: Session, *, recipient: str | None = None, offset: int = 0, limit: int = 100
) -> list[Disclosure]:
    """Disclosure records, newest first (the people in each: :func:`people_of`)."""
    query = select(Disclosure).order_by(Disclosure.at.desc(), Disclosure.id)
    if recipient is not None:
        query = query.where(Disclosure.recipient_id == recipient)
    return list(session.scalars(query.offset(offset).limit(limit)))


def get_disclosure(session: Session, disclosure_id: uuid.UUID) -> Disclosure:
    disclosure = session.get(Disclosure, disclosure_id)
    if disclosure is None:
        raise DisclosureNotFound("no disclosure with that id")
    return disclosure


def people_of(session: Session, disclosure_id: uuid.UUID) -> list[DisclosureSubject]:
    return list(
        session.scalars(
            select(DisclosureSubject)
            .where(DisclosureSubject.disclosure_id == disclosure_id)
            .order_by(DisclosureSubject.subject_id)
        )
    )
