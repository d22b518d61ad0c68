"""Access and portability (GDPR Art. 15 and 20): everything held about a person, as JSON for
machines and as a readable summary page.

Per category of the policy: the values (decrypted through the vault), why they are used
(purposes and lawful bases), who received them (the disclosure records) and who may, how long
they are kept (the retention rule and its exceptions) and where they come from. Then the
payment methods, marketing choices, policy acceptances, objections and requests, and the
devices, login history and events.

The JSON is *streamed*: the small parts are read first, then devices, logins and events are
fetched in batches by keyset (each batch its own short session), encoded and handed on, so
memory stays flat however many events the person has. Reading is audited once per export
under ``legal_obligation`` (answering the request is the controller's duty), not through the
purpose decision: the right of access covers every category, whatever purpose it serves.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import ColumnElement, Table, or_, select
from sqlalchemy.orm import Session, sessionmaker

from safehold import wording
from safehold.access import audit
from safehold.access.rules import Actor
from safehold.analytics.models import Objection
from safehold.comms.models import MarketingChoice
from safehold.db import transaction
from safehold.events import ips, storage
from safehold.events import rules as event_rules
from safehold.events.models import Login, SubjectDevice
from safehold.events.service import PERSONAL_FIELD
from safehold.notices.models import Acceptance
from safehold.policy.document import Policy
from safehold.requests import holdings, links, service
from safehold.requests.errors import ExportLinkInvalid
from safehold.requests.models import DataRequest
from safehold.requests.rules import Kind, Status
from safehold.sharing import deliveries
from safehold.sharing.models import Disclosure, DisclosureSubject
from safehold.subjects import payments
from safehold.subjects import service as subjects
from safehold.subjects.models import PersonalValue
from safehold.vault.errors import DataKeyDestroyed

FORMAT = "safehold-export/1"
BATCH = 2_000  # rows per fetch while streaming devices, logins and events
ACTOR = Actor("system", "export")
ERASED = "erased"  # in place of a value whose key was shredded by a retention run
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
wording.install(_ENV)  # the same words as /me
_DEVICE_FIELDS = ("device_type", "os_family", "os_major", "browser_family", "browser_major")


def _default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _json(value: object) -> bytes:
    return json.dumps(value, default=_default, ensure_ascii=False, separators=(",", ":")).encode()


# --- the small parts, read in one session -------------------------------------------------


def _values(session: Session, ctx: service.Context, sid: uuid.UUID) -> dict[str, dict[str, str]]:
    ctx.vault.preload(session, sid)
    found: dict[str, dict[str, str]] = {}
    rows = session.scalars(select(PersonalValue).where(PersonalValue.subject_id == sid))
    for row in rows:
        try:
            value = ctx.vault.decrypt(
                session, sid, row.retention_class, row.category, row.field, row.ciphertext
            )
        except DataKeyDestroyed:
            value = ERASED
        found.setdefault(row.category, {})[row.field] = value
    return found


def _cards(session: Session, ctx: service.Context, sid: uuid.UUID) -> list[dict[str, Any]]:
    sctx = subjects.Context(ctx.vault, ctx.policy, ctx.clock)
    return [
        {"processor": v.processor, "processor_token": v.processor_token, "brand": v.card.brand,
         "last4": v.card.last4, "expiry": f"{v.card.exp_year:04d}-{v.card.exp_month:02d}",
         "removed": v.removed}
        for v in payments.views(session, sctx, sid, include_removed=True)
    ]  # fmt: skip


def _disclosures(session: Session, policy: Policy, sid: uuid.UUID) -> list[dict[str, Any]]:
    """The disclosure records that sent the person's data, then what processors received in
    the course of the service (the e-mail provider: ``count`` e-mails, ``first_at`` to ``at``)."""
    rows = session.execute(
        select(Disclosure, DisclosureSubject.categories)
        .join(DisclosureSubject, DisclosureSubject.disclosure_id == Disclosure.id)
        .where(DisclosureSubject.subject_id == sid, DisclosureSubject.outcome == "disclosed")
        .order_by(Disclosure.at, Disclosure.id)
    )
    disclosed = [
        {"kind": "disclosure", "recipient": d.recipient_id, "role": d.recipient_role,
         "purpose": d.purpose, "categories": list(categories), "at": d.at,
         "first_at": d.at, "count": 1, "reference": d.reference}
        for d, categories in rows
    ]  # fmt: skip
    roles = {r.id: r.role.value for r in policy.recipients}
    delivered = [
        {"kind": "in_service", "recipient": d.recipient_id,
         "role": roles.get(d.recipient_id, "processor"), "purpose": d.purpose,
         "categories": list(d.categories), "at": d.last_at, "first_at": d.first_at,
         "count": d.count, "reference": None}
        for d in deliveries.deliveries_for(session, sid)
    ]  # fmt: skip
    return disclosed + delivered


def _counts(held: holdings.Holdings, policy: Policy) -> dict[str, Any]:
    return {
        "events": {
            category: parts[holdings.EVENTS]
            for category, parts in sorted(held.counts.items())
            if holdings.EVENTS in parts
        },
        "logins": held.of(holdings.login_category(policy), holdings.LOGINS),
        "devices": held.total(holdings.DEVICES),
        "ip_addresses": held.total(holdings.IPS),
    }


def _retention(policy: Policy, category: str) -> dict[str, Any]:
    rule = policy.retention_rule_for(category)
    return {
        "rule": rule.id, "label": rule.label, "period": rule.period, "from": str(rule.from_),
        "action": str(rule.action), "reason": rule.reason,
        "exceptions": [
            {"id": x.id, "description": x.description, "fields": list(x.fields),
             "period": x.period, "from": str(x.from_), "legal_basis": x.legal_basis,
             "reason": x.reason, "kept_after_erasure": x.survives_erasure}
            for x in policy.exceptions_for(category)
        ],
    }  # fmt: skip


def _categories(
    policy: Policy, values: dict[str, dict[str, str]], held: holdings.Holdings,
    disclosures: list[dict[str, Any]], objected: set[str],
) -> list[dict[str, Any]]:  # fmt: skip
    out = []
    for category in policy.categories:
        cid = category.id
        out.append({
            "id": cid, "label": category.label, "group": str(category.group),
            "source": str(category.source), "description": category.description,
            "held": held.held(cid), "stored": held.counts.get(cid, {}),
            "values": values.get(cid, {}),
            "purposes": [
                {"id": p.id, "label": p.label, "lawful_basis": str(p.lawful_basis),
                 "objected": p.id in objected}
                for p in policy.purposes if cid in p.categories
            ],
            "recipients": {
                "received": [d for d in disclosures if cid in d["categories"]],
                "may_receive": [
                    {"id": r.id, "name": r.name, "role": str(r.role), "country": r.country}
                    for r in policy.recipients if cid in r.categories
                ],
            },
            "retention": _retention(policy, cid),
        })  # fmt: skip
    return out


def _head(session: Session, ctx: service.Context, sid: uuid.UUID, action: str) -> dict[str, Any]:
    """Everything but the long lists, with the audit entry of this read (caller's session)."""
    subject = subjects.get(session, sid)  # unknown -> 404, erased -> 410
    values = _values(session, ctx, sid)
    cards = _cards(session, ctx, sid)
    disclosures = _disclosures(session, ctx.policy, sid)
    held = holdings.holdings(session, ctx.policy, sid)
    counts = _counts(held, ctx.policy)
    objections = session.scalars(
        select(Objection).where(Objection.subject_id == sid).order_by(Objection.objected_at)
    ).all()
    policy = ctx.policy
    categories = _categories(
        policy, values, held, disclosures, {o.purpose for o in objections if o.withdrawn_at is None}
    )
    choices = session.scalars(
        select(MarketingChoice)
        .where(MarketingChoice.subject_id == sid)
        .order_by(MarketingChoice.at, MarketingChoice.id)
    )
    acceptances = session.scalars(
        select(Acceptance).where(Acceptance.subject_id == sid).order_by(Acceptance.at)
    )
    requests = session.scalars(
        select(DataRequest).where(DataRequest.subject_id == sid).order_by(DataRequest.received_at)
    )
    audit.record(
        session, actor=ACTOR, action=action, subject_id=sid,
        categories=[c["id"] for c in categories if c["held"]], purpose=service.PURPOSE,
        outcome="ok", clock=ctx.clock,
    )  # fmt: skip
    controller = policy.controller
    return {
        "format": FORMAT,
        "generated_at": ctx.clock.now(),
        "controller": {"name": controller.name, "email": str(controller.email),
                       "website": str(controller.website)},
        "subject": {"id": subject.id, "status": subject.status, "created_at": subject.created_at,
                    "last_activity_at": subject.last_activity_at, "closed_at": subject.closed_at},
        "counts": counts,
        "categories": categories,
        "payment_methods": cards,
        "marketing_choices": [
            {"choice": c.choice, "at": c.at, "channel": c.channel,
             "policy_version": c.policy_version} for c in choices
        ],
        "policy_acceptances": [
            {"policy_version": f"v{a.version_seq}", "method": a.method, "channel": a.channel,
             "at": a.at} for a in acceptances
        ],
        "objections": [
            {"purpose": o.purpose, "at": o.objected_at, "withdrawn_at": o.withdrawn_at}
            for o in objections
        ],
        "requests": [
            {"id": r.id, "kind": r.kind, "purpose": r.purpose, "channel": r.channel,
             "status": r.status, "received_at": r.received_at, "deadline_at": r.deadline_at,
             "responded_at": r.responded_at, "rejection_reason": r.rejection_reason}
            for r in requests
        ],
    }  # fmt: skip


# --- the long lists, streamed in batches ----------------------------------------------------


def _keyset(
    sessions: sessionmaker[Session], table: Table, where: ColumnElement[bool],
    order: tuple[str, str],
) -> Iterator[list[dict[str, Any]]]:  # fmt: skip
    """Batches of ``table``'s rows matching ``where`` in ``order`` (a time, then a unique id),
    one short session per batch: no long transaction, nothing but one batch in memory. The
    next batch starts at ``time >= last`` so the (person, time) index gives a range scan."""
    first, second = table.c[order[0]], table.c[order[1]]
    after: tuple[Any, Any] | None = None
    while True:
        query = select(table).where(where).order_by(first, second).limit(BATCH)
        if after is not None:
            query = query.where(first >= after[0], or_(first > after[0], second > after[1]))
        with sessions() as session:
            rows = [dict(r) for r in session.execute(query).mappings()]
        if not rows:
            return
        yield rows
        after = (rows[-1][order[0]], rows[-1][order[1]])


def _devices(sessions: sessionmaker[Session], sid: uuid.UUID) -> Iterator[dict[str, Any]]:
    table: Table = SubjectDevice.__table__  # type: ignore[assignment]
    for rows in _keyset(sessions, table, table.c.subject_id == sid, ("first_seen_at", "id")):
        for row in rows:
            yield {k: row[k] for k in ("id", *_DEVICE_FIELDS, "first_seen_at", "last_seen_at")}


def _logins(
    sessions: sessionmaker[Session], ctx: service.Context, sid: uuid.UUID
) -> Iterator[dict[str, Any]]:
    table: Table = Login.__table__  # type: ignore[assignment]
    for rows in _keyset(sessions, table, table.c.subject_id == sid, ("logged_in_at", "id")):
        with sessions() as session:
            for row in rows:
                yield {**{k: row[k] for k in ("id", "logged_in_at", "logged_out_at", "device_id",
                                              "properties", "logout_properties")},
                       "ip": _ip(session, ctx, sid, row)}  # fmt: skip


def _ip(session: Session, ctx: service.Context, sid: uuid.UUID, row: dict[str, Any]) -> Any:
    """The row's address, unsealed (``events.ips``); ERASED once its month's key is gone."""
    address, gone = ips.unseal(session, ctx.vault, sid, row)
    return ERASED if gone else address


def _events(
    sessions: sessionmaker[Session], ctx: service.Context, sid: uuid.UUID
) -> Iterator[dict[str, Any]]:
    """Month by month (each month's (person, time) index), oldest first."""
    with sessions() as session:
        months = storage.months(session)
    for month in months:
        table = storage.month_table(event_rules.partition_name(month))
        for rows in _keyset(
            sessions, table, table.c.subject_id == sid, ("occurred_at", "event_id")
        ):
            with sessions() as session:
                yield from (_event(session, ctx, sid, row) for row in rows)


def _event(
    session: Session, ctx: service.Context, sid: uuid.UUID, row: dict[str, Any]
) -> dict[str, Any]:
    properties = dict(row["properties"] or {})
    if row["personal"] is not None:
        try:
            text = ctx.vault.decrypt(
                session, sid, row["retention_class"], row["category"], PERSONAL_FIELD,
                row["personal"],
            )  # fmt: skip
            properties.update(json.loads(text))
        except DataKeyDestroyed:
            properties["personal_properties"] = ERASED
    device = {k: row[k] for k in _DEVICE_FIELDS} if row["device_type"] is not None else None
    return {
        "event_id": row["event_id"], "name": row["name"], "category": row["category"],
        "occurred_at": row["occurred_at"], "client_time": row["client_time"],
        "received_at": row["received_at"], "properties": properties, "device": device,
        "ip": _ip(session, ctx, sid, row), "is_bot": row["is_bot"],
    }  # fmt: skip


def _array(name: str, items: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    yield f',\n"{name}":['.encode()
    first = True
    for item in items:
        yield (b"\n" if first else b",\n") + _json(item)
        first = False
    yield b"]"


def resolve_link(session: Session, ctx: service.Context, token: str) -> DataRequest:
    """The answered access request a download link names: forged or altered -> 404
    ``export_link_invalid``, expired -> 410 ``export_link_expired``."""
    link = links.read_token(service.export_key(ctx), token, ctx.clock.now())
    request = session.scalars(select(DataRequest).where(DataRequest.id == link.request_id)).first()
    if request is None or request.kind != Kind.ACCESS or request.status != Status.COMPLETED:
        raise ExportLinkInvalid("this download link is not valid", details={})
    return request


def stream_json(
    sessions: sessionmaker[Session], ctx: service.Context, subject_id: uuid.UUID
) -> Iterator[bytes]:
    """The export as chunks of UTF-8 JSON. The person is checked (unknown: 404, erased: 410)
    and the read audited *before* the first chunk, so an error is an answer, not a cut stream."""
    with transaction(sessions) as session:
        head = _head(session, ctx, subject_id, "request.export.json")
    return _body(sessions, ctx, subject_id, head)


def _body(
    sessions: sessionmaker[Session], ctx: service.Context, sid: uuid.UUID, head: dict[str, Any]
) -> Iterator[bytes]:
    yield _json(head)[:-1]  # the object stays open for the lists
    yield from _array("devices", _devices(sessions, sid))
    yield from _array("logins", _logins(sessions, ctx, sid))
    yield from _array("events", _events(sessions, ctx, sid))
    yield b"}\n"


def render_html(session: Session, ctx: service.Context, subject_id: uuid.UUID) -> str:
    """The readable summary: per category the values, why they are used, who received them
    and how long they are kept; counts of events, logins and devices (not every row)."""
    head = _head(session, ctx, subject_id, "request.export.html")
    names = {r.id: r.name for r in ctx.policy.recipients}
    purposes = {p.id: p.label for p in ctx.policy.purposes}
    return _ENV.get_template("export.html.j2").render(
        export=head, words=holdings.words, recipients=names, purposes=purposes
    )
