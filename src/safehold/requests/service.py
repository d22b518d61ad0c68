"""Use cases for data-subject requests: open one, send and check the one-time code (or take
the privacy center's sign-in as the proof), reject, answer an
access, objection or rectification request, list (overdue) requests.

The same functions serve staff (an API key acting on the person's behalf) and, later, the
person in the privacy center (``made_by="subject"``). Services flush, never commit; a wrong
code raises an error that ``keeps_writes``, so the attempt is counted although nothing else
changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.analytics import service as analytics
from safehold.clock import Clock
from safehold.comms import preferences
from safehold.comms import rules as comms_rules
from safehold.comms import service as comms
from safehold.policy import Policy, capabilities
from safehold.requests import links, mails, rules
from safehold.requests.errors import (
    CodeAttemptsExhausted,
    CodeExpired,
    CodeInvalid,
    CodeLimitReached,
    CodeMissing,
    ErasureAlreadyOpen,
    KindNotOffered,
    ObjectionInvalid,
    ReasonUnknown,
    RequestNotFound,
    RestrictionInForce,
    WrongKind,
)
from safehold.requests.models import DataRequest
from safehold.requests.rules import Kind, Status
from safehold.subjects import rules as subject_rules
from safehold.subjects import service as subjects
from safehold.subjects.models import Subject
from safehold.vault.service import Vault

PURPOSE = "legal_obligation"  # answering a data-subject request is the controller's duty


@dataclass(frozen=True)
class Context:
    vault: Vault
    policy: Policy
    clock: Clock
    comms: comms.Context


def record(
    session: Session, ctx: Context, actor: Actor, action: str, request: DataRequest,
    outcome: str = "ok",
) -> None:  # fmt: skip
    """The audit entry of a step on a request (no categories: the log holds no values)."""
    audit.record(
        session, actor=actor, action=action, subject_id=request.subject_id, categories=[],
        purpose=PURPOSE, outcome=outcome, clock=ctx.clock,
    )  # fmt: skip


def get(session: Session, request_id: uuid.UUID, *, lock: bool = False) -> DataRequest:
    query = select(DataRequest).where(DataRequest.id == request_id)
    if lock:
        query = query.with_for_update()
    request = session.scalars(query).first()
    if request is None:
        raise RequestNotFound("no request with that id", details={"request_id": str(request_id)})
    return request


def open_erasure(session: Session, subject_id: uuid.UUID) -> DataRequest | None:
    return session.scalars(
        select(DataRequest).where(
            DataRequest.subject_id == subject_id,
            DataRequest.kind == Kind.ERASURE,
            DataRequest.status.in_(sorted(rules.OPEN)),
        )
    ).first()


def create(
    session: Session, ctx: Context, *, actor: Actor, subject_id: uuid.UUID, kind: str,
    channel: str, made_by: str = "staff", send: bool = True, purpose: str | None = None,
) -> DataRequest:  # fmt: skip
    """Open a request (status ``received``, deadline from the policy) and, unless ``send``
    is False, e-mail the one-time code to the account's address. An objection names the
    ``purpose`` objected to; no other kind does."""
    request_kind = Kind(kind)
    if request_kind not in capabilities.offered_kinds(ctx.policy):
        raise KindNotOffered("the policy does not offer this kind of request", details={})
    if request_kind is Kind.OBJECTION:
        rules.objection_effect(ctx.policy, purpose)  # refuses a purpose one cannot object to
    elif purpose is not None:
        raise ObjectionInvalid("only an objection names a purpose", details={"field": "purpose"})
    subject = subjects.get(session, subject_id)  # unknown -> 404, erased -> 410
    if request_kind is Kind.RESTRICTION and subject.status == subject_rules.RESTRICTED:
        raise RestrictionInForce(
            "processing of this person's data is already restricted", details={}
        )
    if request_kind is Kind.ERASURE:
        # Lock the person's row so two concurrent erasure requests cannot both pass the check.
        session.execute(select(Subject.id).where(Subject.id == subject.id).with_for_update())
        if open_erasure(session, subject.id) is not None:
            raise ErasureAlreadyOpen(
                "an erasure request for this person is already open", details={}
            )
    now = ctx.clock.now()
    request = DataRequest(
        id=uuid.uuid4(), subject_id=subject.id, kind=str(request_kind), purpose=purpose,
        channel=channel,
        made_by=made_by, actor=str(actor), status=str(Status.RECEIVED), received_at=now,
        deadline_at=rules.deadline(now, ctx.policy.requests.deadline), extended_at=None,
        extension_reason=None, first_deadline_at=None, extension_notice_item=None,
        verified_at=None, started_at=None, responded_at=None,
        rejection_reason=None, code_hash=None, code_expires_at=None, code_attempts=0,
        codes_sent=0, progress={}, lease_until=None, certificate=None,
    )  # fmt: skip
    session.add(request)
    session.flush()
    record(session, ctx, actor, f"request.create.{request_kind}", request)
    if send:
        issue_code(session, ctx, request, actor=actor)
    session.flush()
    return request


def send_code(session: Session, ctx: Context, subject_id: uuid.UUID, code: str) -> uuid.UUID:
    """Queue the e-mail carrying the code to the person's account address (comms outbox,
    kind ``account_notice``, or ``rights_notice`` while the person is restricted: see
    ``comms.rules.notice_kind``); returns the message id. The worker renders and sends it.

    The code is the outbox row's ``{{ secret }}``: held only vault-encrypted until the e-mail
    is sent, never in the message's templates."""
    operator = ctx.policy.policy.operator
    text = (
        "Hello {{ name }},\n\n"
        "Your verification code is {{ secret }}.\n\n"
        f"It confirms a request about your personal data at {operator} and expires in "
        f"{int(rules.CODE_TTL.total_seconds() // 60)} minutes. If you did not make this "
        "request, ignore this e-mail and nothing will happen."
    )
    subject = session.get(Subject, subject_id)
    kind = comms_rules.notice_kind(subject.status if subject is not None else "active")
    message = comms.enqueue(
        session, ctx.comms, actor=Actor("system", "requests"), kind=kind,
        subject_ids=[subject_id], subject="Your verification code", text=text, html=None,
        secrets={subject_id: code}, internal=True,
    )  # fmt: skip
    return message.id


def issue_code(session: Session, ctx: Context, request: DataRequest, *, actor: Actor) -> None:
    """A fresh code replaces any earlier one (and its attempts); only its hash is kept."""
    if Status(request.status) is not Status.RECEIVED:
        rules.check_transition(request.status, Status.VERIFIED)  # says why not
    if request.codes_sent >= rules.CODES_PER_REQUEST:
        raise CodeLimitReached(
            "too many codes were sent for this request; open a new one",
            details={"max_codes": rules.CODES_PER_REQUEST},
        )
    code = rules.new_code()
    key = rules.code_key(ctx.vault.provider.index_key())
    request.code_hash = rules.hash_code(key, request.id, code)
    request.code_expires_at = ctx.clock.now() + rules.CODE_TTL
    request.code_attempts = 0
    request.codes_sent += 1
    send_code(session, ctx, request.subject_id, code)
    record(session, ctx, actor, "request.code.send", request)
    session.flush()


def verify(
    session: Session, ctx: Context, request_id: uuid.UUID, *, actor: Actor, code: str
) -> DataRequest:
    """Check the code; on success the request is ``verified`` and the code is spent."""
    request = get(session, request_id, lock=True)
    rules.check_transition(request.status, Status.VERIFIED)
    key = rules.code_key(ctx.vault.provider.index_key())
    state = rules.CodeState(request.code_hash, request.code_expires_at, request.code_attempts)
    try:
        rules.check_code(key, request.id, state, code, ctx.clock.now())
    except (CodeMissing, CodeInvalid, CodeExpired, CodeAttemptsExhausted):
        if request.code_hash is not None:
            request.code_attempts += 1
        record(session, ctx, actor, "request.verify", request, outcome="refused")
        session.flush()
        raise
    request.status, request.verified_at = str(Status.VERIFIED), ctx.clock.now()
    request.code_hash, request.code_expires_at = None, None  # spent: never usable again
    record(session, ctx, actor, "request.verify", request)
    _confirm_by_mail(session, ctx, request)
    session.flush()
    return request


def _confirm_by_mail(session: Session, ctx: Context, request: DataRequest) -> None:
    """A verified erasure request is confirmed by e-mail, with its certificate link."""
    if request.kind == Kind.ERASURE:
        mails.erasure_received(session, ctx.comms, request)


def verify_signed_in(
    session: Session, ctx: Context, request: DataRequest, *, actor: Actor
) -> DataRequest:
    """The person made the request signed in to the privacy center, where they proved they
    hold the account's address with a one-time code: that is the verification. Recorded in
    ``progress`` and the audit log. An objection is then carried out at once."""
    rules.check_transition(request.status, Status.VERIFIED)
    now = ctx.clock.now()
    request.status, request.verified_at = str(Status.VERIFIED), now
    request.code_hash, request.code_expires_at = None, None
    request.progress = {
        **request.progress,
        "verification": {"method": "privacy_center_sign_in", "at": now.isoformat()},
    }
    record(session, ctx, actor, "request.verify.signed_in", request)
    _confirm_by_mail(session, ctx, request)
    session.flush()
    if request.kind == Kind.OBJECTION:
        return object_to(session, ctx, request.id, actor=actor)
    return request


def move(
    session: Session, ctx: Context, request: DataRequest, target: Status, *, actor: Actor
) -> DataRequest:
    """Walk one transition of the table (or raise); stamps start and response dates."""
    rules.check_transition(request.status, target)
    now = ctx.clock.now()
    request.status = str(target)
    if target is Status.IN_PROGRESS:
        request.started_at = now
    if target in rules.TERMINAL:
        request.responded_at = now
    record(session, ctx, actor, f"request.{target}", request)
    session.flush()
    return request


def reject(
    session: Session, ctx: Context, request_id: uuid.UUID, *, actor: Actor, reason: str
) -> DataRequest:
    if reason not in rules.REJECTION_REASONS:
        raise ReasonUnknown(
            "unknown rejection reason", details={"allowed": sorted(rules.REJECTION_REASONS)}
        )
    request = get(session, request_id, lock=True)
    rules.check_transition(request.status, Status.REJECTED)
    request.rejection_reason = reason
    request.code_hash, request.code_expires_at = None, None
    return move(session, ctx, request, Status.REJECTED, actor=actor)


def listing(
    session: Session, *, now: datetime, status: Sequence[str] | None = None,
    overdue: bool = False, subject_id: uuid.UUID | None = None, limit: int = 500,
    assignee: uuid.UUID | None = None, unassigned: bool = False,
) -> list[DataRequest]:  # fmt: skip
    """Requests by deadline, soonest first; ``overdue`` keeps the open ones past theirs;
    ``assignee`` those assigned to that member, ``unassigned`` those assigned to nobody."""
    query = select(DataRequest).order_by(DataRequest.deadline_at, DataRequest.id).limit(limit)
    if assignee is not None:
        query = query.where(DataRequest.assignee_id == assignee)
    if unassigned:
        query = query.where(DataRequest.assignee_id.is_(None))
    if status:
        query = query.where(DataRequest.status.in_([str(Status(s)) for s in status]))
    if subject_id is not None:
        query = query.where(DataRequest.subject_id == subject_id)
    if overdue:
        query = query.where(
            DataRequest.status.in_(sorted(rules.OPEN)), DataRequest.deadline_at < now
        )
    return list(session.scalars(query))


def overdue_count(session: Session, now: datetime) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                DataRequest.status.in_(sorted(rules.OPEN)), DataRequest.deadline_at < now
            )
        )
        or 0
    )


# --- answering access, objection and rectification requests --------------------------------


@dataclass(frozen=True)
class AccessGrant:
    """Where the person downloads their data, and until when the link works."""

    path: str
    expires_at: datetime


def of_kind(session: Session, request_id: uuid.UUID, kind: Kind) -> DataRequest:
    request = get(session, request_id, lock=True)
    if request.kind != kind:
        raise WrongKind(
            f"this request is not an {kind} request" if kind[0] in "aeio"
            else f"this request is not a {kind} request",
            details={"kind": request.kind, "expected": str(kind)},
        )  # fmt: skip
    return request


def _answered(
    session: Session, ctx: Context, request: DataRequest, *, actor: Actor, step: str,
    record: dict[str, object],
) -> DataRequest:  # fmt: skip
    """Record what was done (no personal values: the log outlives the person) and complete."""
    request.progress = {**request.progress, step: {**record, "at": ctx.clock.now().isoformat()}}
    return move(session, ctx, request, Status.COMPLETED, actor=actor)


def export_key(ctx: Context) -> bytes:
    return links.derive_key(ctx.vault.provider.index_key())


def fulfil_access(
    session: Session, ctx: Context, request_id: uuid.UUID, *, actor: Actor
) -> AccessGrant:
    """Make the verified person's data available (Art. 15/20): a signed link that expires
    after :data:`rules.EXPORT_LINK_TTL`. The response date is when the data became available."""
    request = of_kind(session, request_id, Kind.ACCESS)
    subjects.get(session, request.subject_id)  # erased -> 410: nothing left to give
    move(session, ctx, request, Status.IN_PROGRESS, actor=actor)  # only from verified
    expires_at = (ctx.clock.now() + rules.EXPORT_LINK_TTL).replace(microsecond=0)
    token = links.make_token(export_key(ctx), request.id, expires_at)
    _answered(session, ctx, request, actor=actor, step="access",
              record={"link_expires_at": expires_at.isoformat()})  # fmt: skip
    return AccessGrant(f"{links.PREFIX}{token}", expires_at)


def object_to(
    session: Session, ctx: Context, request_id: uuid.UUID, *, actor: Actor
) -> DataRequest:
    """Carry out a verified objection (Art. 21): to marketing, an opt-out (pending marketing
    mail skipped at once); to another objectable purpose (``platform_improvement``), the
    person leaves it from this moment (analytics leaves them out, ``decide`` refuses it)."""
    request = of_kind(session, request_id, Kind.OBJECTION)
    subject = subjects.get(session, request.subject_id)
    effect = rules.objection_effect(ctx.policy, request.purpose)
    move(session, ctx, request, Status.IN_PROGRESS, actor=actor)
    assert request.purpose is not None  # objection_effect refuses None
    if effect == rules.OPT_OUT:
        changed = preferences.record_choice(
            session, subject=subject, choice="opted_out", channel="api", actor=actor,
            policy_version=ctx.comms.policy_label(), clock=ctx.clock, reference=str(request.id),
        ) is not None  # fmt: skip
    else:
        before = analytics.objected_purposes(session, subject.id)
        analytics.record_objection(
            session, subject_id=subject.id, purpose=request.purpose, actor=actor, clock=ctx.clock
        )
        changed = request.purpose not in before
    record = {"purpose": request.purpose, "effect": effect, "changed": changed}
    return _answered(session, ctx, request, actor=actor, step="objection", record=record)


def rectify(
    session: Session, ctx: Context, request_id: uuid.UUID, *, actor: Actor,
    values: dict[str, str], remove: tuple[str, ...] = (),
) -> DataRequest:  # fmt: skip
    """Correct the person's data (Art. 16) through ``subjects.service.rectify`` (which tells
    the recipients, Art. 19) and complete the request, recording the field names only.
    ``remove`` names optional details to delete instead (:data:`rules.REMOVABLE`: the phone
    number, the postal address): the same request, the recipients told the same way."""
    request = of_kind(session, request_id, Kind.RECTIFICATION)
    gone = rules.removal_fields(remove, values)
    names = rules.rectification_fields(values) if values or not gone else ()
    address = {p: values[p] for p in rules.ADDRESS_PARTS} if "street" in values else None
    contact = subject_rules.contact(
        name=values.get("name"), email=values.get("email"), phone=values.get("phone"),
        address=address, remove=tuple(rules.REMOVABLE[g] for g in gone),
    )  # fmt: skip
    move(session, ctx, request, Status.IN_PROGRESS, actor=actor)
    source = "person" if request.made_by == "subject" else "operator"
    subjects.rectify(
        session, subjects.Context(ctx.vault, ctx.policy, ctx.clock), request.subject_id,
        actor=actor, source=source, contact=contact,
    )  # fmt: skip
    categories = sorted({rules.RECTIFIABLE[n] for n in names} | set(contact.removed))
    record: dict[str, object] = {"fields": list(names), "categories": categories}
    if gone:
        record["removed"] = gone
    return _answered(session, ctx, request, actor=actor, step="rectification", record=record)
