"""Recipients in the course of the service: the e-mail provider receives the person's address
(and name, when a message uses it) with every e-mail handed to it, so it is a recipient of
that person's data — shown on /me, in the export, counted in the RoPA, told about an
erasure (issue 17, item 5).

Recorded in the send transaction that records the e-mails as sent, aggregated: one row per
(person, recipient, purpose, categories) with the first and last time and a count, updated
by one upsert statement per group of e-mails, so its cost does not grow with the history
(docs/decisions/0025-held-recipients-kept.md, bench/mail.py).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from safehold.policy.document import Policy
from safehold.sharing.models import ServiceDelivery

SEPARATOR = ","


def _key(categories: Iterable[str]) -> str:
    return SEPARATOR.join(sorted(set(categories)))


def _upsert(session: Session) -> Insert:
    dialect = session.get_bind().dialect.name
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = make(ServiceDelivery)
    return statement.on_conflict_do_update(
        index_elements=["subject_id", "recipient_id", "purpose", "categories"],
        set_={
            "count": ServiceDelivery.count + statement.excluded.count,
            "last_at": statement.excluded.last_at,
        },
    )


def record_mail(
    session: Session, policy: Policy, sent: Iterable[tuple[uuid.UUID, Iterable[str]]],
    now: datetime,
) -> int:  # fmt: skip
    """Record that the policy's e-mail provider received, once per e-mail in ``sent``
    (person, categories the e-mail carried), those categories of that person. Returns the
    rows written (0 when the policy names no provider)."""
    provider = policy.mail_recipient
    if provider is None:
        return 0
    counts = Counter((sid, _key(categories)) for sid, categories in sent)
    if not counts:
        return 0
    rows = [
        {"subject_id": sid, "recipient_id": provider.id, "purpose": provider.purposes[0],
         "categories": key, "first_at": now, "last_at": now, "count": n}
        for (sid, key), n in sorted(counts.items())
    ]  # fmt: skip
    session.execute(_upsert(session), rows)
    return len(rows)


@dataclass(frozen=True)
class Delivery:
    recipient_id: str
    purpose: str
    categories: tuple[str, ...]
    first_at: datetime
    last_at: datetime
    count: int


def deliveries_for(session: Session, subject_id: uuid.UUID) -> list[Delivery]:
    rows = session.scalars(
        select(ServiceDelivery)
        .where(ServiceDelivery.subject_id == subject_id)
        .order_by(ServiceDelivery.first_at, ServiceDelivery.recipient_id)
    )
    return [
        Delivery(r.recipient_id, r.purpose, tuple(r.categories.split(SEPARATOR)), r.first_at,
                 r.last_at, r.count)
        for r in rows
    ]  # fmt: skip


def received_categories(session: Session, subject_id: uuid.UUID) -> dict[str, set[str]]:
    """Recipient -> categories of the person it received in the course of the service."""
    out: dict[str, set[str]] = {}
    for d in deliveries_for(session, subject_id):
        out.setdefault(d.recipient_id, set()).update(d.categories)
    return out
