"""What is held about a person, per category, counted from what is stored.

The privacy center's "What we hold" and the access export's ``held`` both come from
:func:`holdings` — one reading of the tables that store personal data, never a second list
of categories that could drift from it (issue 17, item 4). Every store is counted under the
category its data belongs to: encrypted values under theirs, cards under ``account.payment``,
usage events under the category they were stored with, sign-ins under the login event's
category, devices under ``device.info``, and every stored (shortened) IP address — on a
sign-in or on an event — under ``network.ip``.

Counts only: nothing is decrypted, so there is nothing personal to audit here; whoever shows
the values reads them through their own audited path.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safehold import wording
from safehold.events import storage
from safehold.events.ips import IpColumns
from safehold.events.models import Login, SubjectDevice
from safehold.events.service import DEVICE_CATEGORY, NETWORK_CATEGORY
from safehold.policy.document import Policy
from safehold.subjects.models import PaymentMethod, PersonalValue
from safehold.subjects.rules import PAYMENT

# The kinds of stored record a category's count is made of, in the order they are told.
VALUES = "values"  # encrypted fields (name, e-mail, phone, address …)
CARDS = "payment_methods"
EVENTS = "events"
LOGINS = "logins"
DEVICES = "devices"
IPS = "ip_addresses"


_WORDS = {
    VALUES: ("stored value", "stored values"),
    CARDS: ("payment card", "payment cards"),
    EVENTS: ("recorded event", "recorded events"),
    LOGINS: ("sign-in", "sign-ins"),
    DEVICES: ("device", "devices"),
    IPS: ("shortened IP address (with your sign-ins and events)",
          "shortened IP addresses (with your sign-ins and events)"),
}  # fmt: skip


def words(parts: dict[str, int]) -> str:
    """ "12 sign-ins, 3 shortened IP addresses (…)": a category's records in words."""
    return ", ".join(wording.count(n, *_WORDS[kind]) for kind, n in parts.items() if n)


@dataclass(frozen=True)
class Holdings:
    """Category -> kind of record -> how many are stored (only non-zero counts)."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def held(self, category: str) -> bool:
        return bool(self.counts.get(category))

    def of(self, category: str, kind: str) -> int:
        return self.counts.get(category, {}).get(kind, 0)

    def total(self, kind: str) -> int:
        return sum(parts.get(kind, 0) for parts in self.counts.values())


def login_category(policy: Policy) -> str:
    events = policy.events
    return events.category_of(events.login_event) or "usage.login"


def holdings(session: Session, policy: Policy, subject_id: uuid.UUID) -> Holdings:
    """Count what is stored about the person in every store of personal data."""
    counts: dict[str, dict[str, int]] = {}

    def add(category: str, kind: str, n: int | None) -> None:
        if n:
            parts = counts.setdefault(category, {})
            parts[kind] = parts.get(kind, 0) + int(n)

    for category, n in session.execute(
        select(PersonalValue.category, func.count())
        .where(PersonalValue.subject_id == subject_id)
        .group_by(PersonalValue.category)
    ):
        add(str(category), VALUES, n)
    cards = session.scalar(select(func.count()).where(PaymentMethod.subject_id == subject_id))
    add(PAYMENT, CARDS, cards)
    e = storage.EVENTS
    for category, n, ips in session.execute(
        select(e.c.category, func.count(), IpColumns.of(e).count())
        .where(e.c.subject_id == subject_id)
        .group_by(e.c.category)
    ):
        add(str(category), EVENTS, n)
        add(NETWORK_CATEGORY, IPS, ips)
    logins, login_ips = session.execute(
        select(func.count(), IpColumns.logins().count()).where(Login.subject_id == subject_id)
    ).one()
    add(login_category(policy), LOGINS, logins)
    add(NETWORK_CATEGORY, IPS, login_ips)
    add(
        DEVICE_CATEGORY,
        DEVICES,
        session.scalar(select(func.count()).where(SubjectDevice.subject_id == subject_id)),
    )
    return Holdings(counts)
