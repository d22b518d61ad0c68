"""Restriction of processing (GDPR Art. 18): staff apply it on a verified ``restriction``
request, tell the person before lifting it (Art. 18(3)), and only then lift it.

While restricted the person's status is ``restricted``, so :func:`safehold.policy.decide`
refuses every purpose but ``legal_obligation`` ones (rule ``subject.restricted``: reads,
marketing, disclosures), analytics leaves them out and broadcasts skip them. Applying and
lifting are each one transaction that changes the status, writes the record, audits it,
queues the recipients' notices (Art. 19) and the person's e-mail, so none exists without
the others. Reasons are codes from closed lists (``subjects.rules``): no free text, so the
record holds no personal data. Services flush, never commit.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.comms import rules as comms_rules
from safehold.comms import service as comms
from safehold.comms.models import OutboxItem
from safehold.requests import service
from safehold.requests.errors import (
    LiftNotAnnounced,
    LiftNoticeNotSent,
    ReasonUnknown,
    RestrictionInForce,
    RestrictionLifted,
    RestrictionNotFound,
)
from safehold.requests.rules import Kind, Status
from safehold.sharing import propagation
from safehold.subjects import rules as subject_rules
from safehold.subjects import service as subjects
from safehold.subjects.models import Restriction, Subject

NOTICE_ACTOR = Actor("system", "requests")

APPLIED_TEXT = (
    "Hello {{{{ name }}}},\n\n"
    "As you asked, from {since} we restrict the processing of your personal data at "
    "{operator}: we use it only where the law obliges us to. We send you no marketing "
    "e-mails, leave you out of our usage statistics and share nothing about you except "
    "under a legal obligation.\n\n"
    "We will e-mail you before we lift the restriction.\n\n"
    "You can see this in your privacy center: {{{{ privacy_center_url }}}}"
)
LIFT_TEXT = (
    "Hello {{{{ name }}}},\n\n"
    "We are going to lift the restriction of processing of your personal data at "
    "{operator} (in force since {since}), because {why}.\n\n"
    "Once it is lifted we use your data again as our privacy policy describes: "
    "{{{{ policy_url }}}}\n\n"
    "Your requests and their state are in your privacy center: {{{{ privacy_center_url }}}}"
)


def in_force(session: Session, subject_id: uuid.UUID) -> Restriction | None:
    """The restriction in force for the person (applied, not lifted), if any."""
    return session.scalars(
        select(Restriction)
        .where(Restriction.subject_id == subject_id, Restriction.lifted_at.is_(None))
        .order_by(Restriction.applied_at.desc())
        .limit(1)
    ).first()


def of_request(session: Session, request_id: uuid.UUID) -> Restriction | None:
    return session.scalars(select(Restriction).where(Restriction.request_id == request_id)).first()


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def _tell(
    session: Session, ctx: service.Context, subject_id: uuid.UUID, subject: str, text: str
) -> uuid.UUID:
    """Queue a rights notice (``legal_obligation``: allowed while restricted) to the person;
    the id of their outbox row, whose status says when it was sent."""
    message = comms.enqueue(
        session, ctx.comms, actor=NOTICE_ACTOR, kind=comms_rules.RIGHTS_NOTICE,
        subject_ids=[subject_id], subject=subject, text=text, html=None, internal=True,
    )  # fmt: skip
    return session.scalars(select(OutboxItem.id).where(OutboxItem.message_id == message.id)).one()


def apply(
    session: Session, ctx: service.Context, request_id: uuid.UUID, *, actor: Actor, reason: str
) -> Restriction:
    """Restrict the person of a verified restriction request, for one of Art. 18(1)'s
    grounds; the request is completed. 409 ``restriction_in_force`` if already restricted."""
    if reason not in subject_rules.RESTRICTION_REASONS:
        raise ReasonUnknown(
            "unknown restriction reason",
            details={"allowed": sorted(subject_rules.RESTRICTION_REASONS)},
        )
    request = service.of_kind(session, request_id, Kind.RESTRICTION)
    person = subjects.get(session, request.subject_id)  # erased -> 410
    session.execute(select(Subject.id).where(Subject.id == person.id).with_for_update())
    current = in_force(session, person.id)
    if current is not None or person.status == subject_rules.RESTRICTED:
        raise RestrictionInForce(
            "processing of this person's data is already restricted",
            details={"request_id": str(current.request_id) if current else None},
        )
    service.move(session, ctx, request, Status.IN_PROGRESS, actor=actor)
    now = ctx.clock.now()
    row = Restriction(
        id=uuid.uuid4(), subject_id=person.id, request_id=request.id, reason=reason,
        applied_at=now, applied_by=str(actor), lift_reason=None, lift_notice_at=None,
        lift_notice_item=None, lifted_at=None, lifted_by=None,
    )  # fmt: skip
    session.add(row)
    person.status = subject_rules.RESTRICTED
    session.flush()
    service.record(session, ctx, actor, "subject.restrict", request)
    propagation.notify_restriction(
        session, person.id, policy=ctx.policy, clock=ctx.clock, actor=actor
    )
    operator = ctx.policy.policy.operator
    _tell(session, ctx, person.id, "Processing of your data is restricted",
          APPLIED_TEXT.format(since=_day(now), operator=operator))  # fmt: skip
    request.progress = {
        **request.progress,
        "restriction": {"reason": reason, "at": now.isoformat()},
    }
    service.move(session, ctx, request, Status.COMPLETED, actor=actor)
    return row


def _live(session: Session, request_id: uuid.UUID) -> Restriction:
    row = of_request(session, request_id)
    if row is None:
        raise RestrictionNotFound("no restriction was applied on this request", details={})
    if row.lifted_at is not None:
        raise RestrictionLifted("this restriction was already lifted", details={})
    return row


def announce_lift(
    session: Session, ctx: service.Context, request_id: uuid.UUID, *, actor: Actor, reason: str
) -> Restriction:
    """Tell the person, by e-mail, that the restriction will be lifted and why (Art. 18(3)).
    Announcing again sends a new e-mail (the earlier one bounced, say); the lift waits for
    the newest to be sent."""
    if reason not in subject_rules.LIFT_REASONS:
        raise ReasonUnknown(
            "unknown reason for lifting", details={"allowed": sorted(subject_rules.LIFT_REASONS)}
        )
    row = _live(session, request_id)
    request = service.get(session, request_id, lock=True)
    operator, why = ctx.policy.policy.operator, subject_rules.LIFT_REASONS[reason]
    text = LIFT_TEXT.format(operator=operator, since=_day(row.applied_at), why=why)
    row.lift_notice_item = _tell(
        session, ctx, row.subject_id, "We are lifting the restriction", text
    )
    row.lift_reason, row.lift_notice_at = reason, ctx.clock.now()
    service.record(session, ctx, actor, "subject.restriction.lift_notice", request)
    session.flush()
    return row


def lift(
    session: Session, ctx: service.Context, request_id: uuid.UUID, *, actor: Actor
) -> Restriction:
    """Lift the restriction once the person's e-mail announcing it has been sent: 409
    ``restriction_lift_not_announced`` before :func:`announce_lift`, and
    ``restriction_lift_notice_not_sent`` while that e-mail waits (or failed)."""
    row = _live(session, request_id)
    if row.lift_notice_item is None:
        raise LiftNotAnnounced(
            "tell the person first: the restriction is lifted only after they are told",
            details={},
        )
    item = session.get(OutboxItem, (row.subject_id, row.lift_notice_item))
    status = item.status if item is not None else "missing"
    if status != comms_rules.Status.SENT:
        raise LiftNoticeNotSent(
            "the e-mail telling the person has not been sent yet",
            details={"status": status},
        )
    person = subjects.get(session, row.subject_id)
    if person.status == subject_rules.RESTRICTED:
        person.status = subject_rules.status_after_lift(person.closed_at is not None)
    row.lifted_at, row.lifted_by = ctx.clock.now(), str(actor)
    request = service.get(session, request_id)
    service.record(session, ctx, actor, "subject.unrestrict", request)
    propagation.notify_restriction_end(
        session, row.subject_id, policy=ctx.policy, clock=ctx.clock, actor=actor
    )
    session.flush()
    return row
