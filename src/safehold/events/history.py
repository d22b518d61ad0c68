"""Reading what events recorded about one person, for a purpose the policy allows — login
history, devices, recent events with their personal properties decrypted — and erasing it.

Every read asks the policy first and writes an audit entry (a refused read too, committed
although the request fails); only the categories the decision allows are returned.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.events import ips, storage
from safehold.events.models import Login, SubjectDevice
from safehold.events.service import DEVICE_CATEGORY, NETWORK_CATEGORY, PERSONAL_FIELD, Context
from safehold.policy.rules import Decision, Withheld, audited_purpose, decide, declared_purpose
from safehold.subjects.errors import PurposeRefused
from safehold.subjects.models import Subject
from safehold.subjects.service import get as get_subject
from safehold.subjects.service import state_of
from safehold.vault.errors import DataKeyDestroyed

MAX_LIMIT = 1_000
ERASED_NOTE = "this data was erased"


@dataclass
class Allowed:
    subject: Subject
    decision: Decision

    def has(self, category: str) -> bool:
        return category in self.decision.allowed


@dataclass(frozen=True)
class LoginView:
    login: Login
    device: SubjectDevice | None
    ip: str | None = None  # unsealed, when the purpose may see network.ip (events.ips)


@dataclass
class LoginHistory:
    allowed: Allowed
    last_login_at: datetime | None
    logins: list[LoginView]


@dataclass
class StoredEvent:
    event_id: uuid.UUID
    name: str
    category: str
    occurred_at: datetime
    client_time: datetime | None
    properties: dict[str, Any]
    device: dict[str, Any] | None
    ip: str | None
    is_bot: bool


@dataclass
class EventsView:
    allowed: Allowed
    events: list[StoredEvent] = field(default_factory=list)
    erased: list[Withheld] = field(default_factory=list)


def _ask(
    session: Session, ctx: Context, subject_id: uuid.UUID, *, purpose: str, actor: Actor,
    action: str, main: str, extra: Sequence[str] = (DEVICE_CATEGORY, NETWORK_CATEGORY),
) -> Allowed:  # fmt: skip
    """The decision for ``main`` (required) and ``extra`` (shown when allowed); a refusal
    is audited and raised as :class:`PurposeRefused` (403 with the refusing rule)."""
    subject = get_subject(session, subject_id)
    wanted = [main, *extra]
    decision = decide(
        ctx.policy, purpose, wanted, state_of(session, subject, ctx.book, ctx.clock.now())
    )
    rule = decision.refused_rule
    if rule is None and main not in decision.allowed:
        rule = next((w.rule for w in decision.withheld if w.category == main), None)
    if rule is not None:
        _audit(session, ctx, actor, action, subject.id, wanted, purpose, "refused")
        raise PurposeRefused(
            decision.refused_message or f"the policy does not allow reading {main} for {purpose}",
            details={"purpose": declared_purpose(ctx.policy, purpose), "rule": rule},
        )
    outcome = "partial" if decision.withheld else "allowed"
    _audit(session, ctx, actor, action, subject.id, decision.allowed, purpose, outcome)
    return Allowed(subject, decision)


def _audit(
    session: Session, ctx: Context, actor: Actor, action: str, subject_id: uuid.UUID,
    categories: Sequence[str], purpose: str, outcome: str,
) -> None:  # fmt: skip
    """Append the entry; an undeclared purpose is recorded as such, never as sent."""
    audit.record(
        session,
        actor=actor,
        action=action,
        subject_id=subject_id,
        categories=categories,
        purpose=audited_purpose(ctx.policy, purpose),
        outcome=outcome,
        clock=ctx.clock,
    )


def login_category(ctx: Context) -> str:
    events = ctx.policy.events
    return events.category_of(events.login_event) or "usage.login"


def login_history(
    session: Session, ctx: Context, subject_id: uuid.UUID, *, purpose: str, actor: Actor,
    limit: int = 100,
) -> LoginHistory:  # fmt: skip
    """The person's sign-ins, newest first, and their last login."""
    allowed = _ask(
        session, ctx, subject_id, purpose=purpose, actor=actor,
        action="events.logins.read", main=login_category(ctx),
    )  # fmt: skip
    rows = session.execute(
        select(Login, SubjectDevice)
        .outerjoin(SubjectDevice, Login.device_id == SubjectDevice.id)
        .where(Login.subject_id == subject_id)
        .order_by(Login.logged_in_at.desc())
        .limit(min(limit, MAX_LIMIT))
    )
    show_ip = allowed.has(NETWORK_CATEGORY)
    if show_ip:
        ctx.vault.preload(session, subject_id)
    logins = [
        LoginView(
            login,
            device if allowed.has(DEVICE_CATEGORY) else None,
            ips.unseal(session, ctx.vault, subject_id, login)[0] if show_ip else None,
        )
        for login, device in rows
    ]
    last = session.scalar(
        select(func.max(Login.logged_in_at)).where(Login.subject_id == subject_id)
    )
    return LoginHistory(allowed, last, logins)


def devices(
    session: Session, ctx: Context, subject_id: uuid.UUID, *, purpose: str, actor: Actor
) -> tuple[Allowed, list[SubjectDevice]]:
    """The person's devices (coarse fields), most recently used first."""
    allowed = _ask(
        session, ctx, subject_id, purpose=purpose, actor=actor,
        action="events.devices.read", main=DEVICE_CATEGORY, extra=(),
    )  # fmt: skip
    found = session.scalars(
        select(SubjectDevice)
        .where(SubjectDevice.subject_id == subject_id)
        .order_by(SubjectDevice.last_seen_at.desc())
    )
    return allowed, list(found)


def recent_events(
    session: Session, ctx: Context, subject_id: uuid.UUID, *, purpose: str, actor: Actor,
    category: str = "usage.action", limit: int = 100,
) -> EventsView:  # fmt: skip
    """The person's latest events, personal properties decrypted (erased ones withheld)."""
    allowed = _ask(
        session, ctx, subject_id, purpose=purpose, actor=actor,
        action="events.read", main=category,
    )  # fmt: skip
    e = storage.EVENTS
    rows = session.execute(
        select(e)
        .where(e.c.subject_id == subject_id, e.c.category == category)
        .order_by(e.c.occurred_at.desc())
        .limit(min(limit, MAX_LIMIT))
    ).mappings()
    view = EventsView(allowed)
    ctx.vault.preload(session, subject_id)
    for row in rows:
        properties = dict(row["properties"] or {})
        if row["personal"] is not None:
            try:
                text = ctx.vault.decrypt(
                    session, subject_id, row["retention_class"], row["category"],
                    PERSONAL_FIELD, row["personal"],
                )  # fmt: skip
                properties.update(json.loads(text))
            except DataKeyDestroyed:
                if not any(w.category == category for w in view.erased):  # one note for all
                    view.erased.append(Withheld(category, "vault.erased", ERASED_NOTE))
        ip = None
        if allowed.has(NETWORK_CATEGORY):
            ip, gone = ips.unseal(session, ctx.vault, subject_id, row)
            if gone and not any(w.category == NETWORK_CATEGORY for w in view.erased):
                view.erased.append(Withheld(NETWORK_CATEGORY, "vault.erased", ERASED_NOTE))
        device = None
        if allowed.has(DEVICE_CATEGORY) and row["device_type"] is not None:
            device = {k: row[k] for k in ("device_type", "os_family", "os_major",
                                          "browser_family", "browser_major")}  # fmt: skip
        view.events.append(
            StoredEvent(
                event_id=row["event_id"],
                name=row["name"],
                category=row["category"],
                occurred_at=row["occurred_at"],
                client_time=row["client_time"],
                properties=properties,
                device=device,
                ip=ip,
                is_bot=row["is_bot"],
            )
        )
    return view


@dataclass(frozen=True)
class Erased:
    events: int
    logins: int
    devices: int


def erase(session: Session, subject_id: uuid.UUID) -> Erased:
    """Delete everything events recorded about a person — every month's events (through
    the (person, time) index), the login history and the devices. The anonymous-id links
    stay, pointing at the erased person, so a late event from their device is refused rather
    than starting a new history. The caller shreds the keys and writes the audit entry."""
    events = storage.for_each_month(
        session, lambda t: delete(t).where(t.c.subject_id == subject_id)
    )
    logins = session.execute(delete(Login).where(Login.subject_id == subject_id))
    devices_ = session.execute(delete(SubjectDevice).where(SubjectDevice.subject_id == subject_id))
    return Erased(
        events, int(getattr(logins, "rowcount", 0)), int(getattr(devices_, "rowcount", 0))
    )
