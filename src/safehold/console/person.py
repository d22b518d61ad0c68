"""The console's person page: what one person's record holds, for the purpose the staff
member chose, and what the staff member may do for them (docs/decisions/0033).

Each part is read through its own feature service with the scope and purpose the HTTP API
asks for the same read, and is audited by that service exactly as the API's read is:

| part             | API equivalent                            | needs                       |
|------------------|-------------------------------------------|-----------------------------|
| data, cards      | ``GET /v1/subjects/{id}?purpose=``        | subjects:read + the purpose |
| requests         | ``GET /v1/requests?subject_id=``          | requests:open               |
| marketing choice | ``GET /v1/subjects/{id}/marketing``       | subjects:read + service_provision |
| devices          | ``GET /v1/subjects/{id}/devices?purpose=``| subjects:read + the purpose |
| legal holds      | ``GET /v1/holds?subject_id=``             | holds:write                 |

A part the key may not see is not read at all (nothing is audited for it) and the page says
which scope or purpose it needs; a part the policy refuses to the purpose (devices, say) is
audited as refused, as the API's read is, and the page shows the refusal's rule.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from safehold.access.rules import Actor, holds, purpose_allowed
from safehold.comms import service as comms
from safehold.console import rules
from safehold.console.common import Principal
from safehold.console.service import QueueRow
from safehold.events import history
from safehold.events.models import SubjectDevice
from safehold.events.service import Context as EventsContext
from safehold.policy.rules import Withheld
from safehold.requests import rules as request_rules
from safehold.requests import service as requests
from safehold.retention import rules as retention_rules
from safehold.retention import service as retention
from safehold.retention.models import LegalHold
from safehold.runtime import Runtime
from safehold.subjects import payments
from safehold.subjects import rules as subject_rules
from safehold.subjects import service as subjects
from safehold.subjects.errors import PurposeRefused
from safehold.subjects.models import Subject

REQUESTS_SCOPE = "requests:open"
HOLDS_SCOPE = "holds:write"
MARKETING_PURPOSE = subjects.WRITE_PURPOSE  # what GET /v1/subjects/{id}/marketing reads for


@dataclass(frozen=True)
class HoldRow:
    hold: LegalHold
    active: bool


@dataclass
class PersonView:
    subject: Subject
    purpose: str
    data: dict[str, dict[str, str]]
    withheld: list[Withheld]
    payment_methods: list[str] = field(default_factory=list)
    requests: list[QueueRow] | None = None  # None: the part is missing, see ``missing``
    marketing: comms.Preference | None = None
    devices: list[SubjectDevice] | None = None
    holds: list[HoldRow] | None = None
    missing: dict[str, str] = field(default_factory=dict)  # part -> why it is not shown
    may: frozenset[str] = frozenset()  # the actions this key may take: "request", "hold"


def find(
    session: Session, runtime: Runtime, *, actor: Actor, purpose: str, email: str | None,
    phone: str | None,
) -> list[Subject]:  # fmt: skip
    """The people with this e-mail address (one) or phone number (a household's line may
    be several people's) whom ``purpose`` may know of, through the blind index; the look-up
    is audited with ``purpose`` for each person found (ok or refused), or as not found."""
    ctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    return subjects.lookup_all(session, ctx, actor=actor, purpose=purpose, email=email, phone=phone)


def _holder(key: Principal) -> str:
    return "Your key" if key.role is None else f"Your role, {key.role},"


def _scope_missing(key: Principal, scope: str) -> str:
    return f"{_holder(key)} does not hold the scope {scope}, which this part needs."


def view(
    session: Session, runtime: Runtime, key: Principal, subject_id: uuid.UUID, *, purpose: str,
    actor: Actor,
) -> PersonView:  # fmt: skip
    """Every part of the person's page the key may see (see the module's table). The read
    of their data refuses as the API's does (:class:`PurposeRefused`, its entry kept)."""
    ctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    read = subjects.read(session, ctx, subject_id, purpose=purpose, actor=actor)
    cards = []
    if subject_rules.PAYMENT in read.decision.allowed:
        cards = [str(v.card) for v in payments.views(session, ctx, subject_id)]
    subject = subjects.get(session, subject_id)
    out = PersonView(subject, purpose, read.data, [*read.decision.withheld, *read.erased], cards)
    now = runtime.clock.now()
    if holds(key.scopes, REQUESTS_SCOPE):
        found = requests.listing(session, now=now, subject_id=subject_id, limit=rules.PERSON_ROWS)
        out.requests = [
            QueueRow(r, request_rules.is_overdue(r.status, r.deadline_at, now)) for r in found
        ]
    else:
        out.missing["requests"] = _scope_missing(key, REQUESTS_SCOPE)
    if purpose_allowed(key.purposes, MARKETING_PURPOSE):
        out.marketing = comms.preference(session, comms.context(runtime), subject_id, actor=actor)
    else:
        out.missing["marketing"] = (
            f"{_holder(key)} may not use the purpose {MARKETING_PURPOSE}, which reading the "
            "marketing choice needs."
        )
    events = EventsContext(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    try:
        _allowed, out.devices = history.devices(
            session, events, subject_id, purpose=purpose, actor=actor
        )
    except PurposeRefused as exc:  # audited as refused; the rest of the page stands
        rule = exc.details.get("rule")
        out.missing["devices"] = f"{exc.message[:1].upper()}{exc.message[1:]} (rule {rule})."
    if holds(key.scopes, HOLDS_SCOPE):
        out.holds = [
            HoldRow(h, retention_rules.is_active(h.lifted_at, h.until, now))
            for h in retention.holds(session, subject_id=subject_id)[: rules.PERSON_ROWS]
        ]
    else:
        out.missing["holds"] = _scope_missing(key, HOLDS_SCOPE)
    out.may = frozenset(
        action
        for action, scope in (("request", REQUESTS_SCOPE), ("hold", HOLDS_SCOPE))
        if holds(key.scopes, scope) and subject.status != "erased"
    )
    return out
