"""E-mails about a person's own request (issue 17 item 11, decision 0024; the extension
notice, decision 0029).

An erasure request is confirmed by e-mail once it is verified — made in the privacy center,
or verified with the code staff sent — and the e-mail carries the signed certificate link
(:func:`links.certificate_path`, built from ``SAFEHOLD_BASE_URL`` by ``MailConfig.link``):
after the erasure the person cannot sign in any more, and the link opens the certificate
without a sign-in. The link is the outbox row's sealed ``{{ secret }}`` (a bearer link is
not written into the message's templates, which the ``messages`` table keeps); the worker
renders it like a code and drops it once the e-mail is sent.

Its completion is e-mailed too (decision 0028): before the erasure shreds the address, it
queues :func:`erasure_completed` — the address sealed on the row under the row's own data key
(``comms.rules.OWN_KEY_KINDS``), held until the certificate is issued (``comms.release``),
destroyed when the delivery is settled or at the latest ``OWN_KEY_TTL`` after it was queued.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access import audit
from safehold.access.rules import Actor
from safehold.comms import rules as comms_rules
from safehold.comms import service as comms
from safehold.comms.errors import PurposeNotDeclared
from safehold.comms.models import OutboxItem
from safehold.policy import Policy
from safehold.policy.durations import add_duration
from safehold.requests import links, rules
from safehold.requests.models import DataRequest
from safehold.subjects.models import PersonalValue
from safehold.subjects.rules import EMAIL
from safehold.vault.errors import DataKeyDestroyed

KIND = "account_notice"  # about the person's own account: communication.service
ACTOR = Actor("system", "requests")


def _erasure_text(
    ctx_operator: str, controller: str, request: DataRequest, *, completion_mail: bool
) -> str:
    until = add_duration(request.received_at, links.CERTIFICATE_LINK_TTL)
    completion = (
        "When the deletion is done we e-mail you once more, with this link; we keep your "
        "address only for that e-mail.\n\n"
        if completion_mail
        else ""
    )
    return (
        "Hello {{ name }},\n\n"
        f"We received your request to delete your personal data at {ctx_operator} on "
        f"{request.received_at:%Y-%m-%d} (reference {str(request.id)[:8]}). We will carry it "
        f"out by {request.deadline_at:%Y-%m-%d}.\n\n"
        "Once your data is erased you cannot sign in any more, so keep this link. It opens "
        "the certificate of what was erased, and what was kept and why, without signing in, "
        f"until {until:%Y-%m-%d}; until the deletion is done it says so:\n"
        "{{ secret }}\n\n"
        f"{completion}"
        f"If you did not ask for this, write to us at once: {controller}."
    )


def erasure_received(session: Session, ctx: comms.Context, request: DataRequest) -> None:
    """Queue the confirmation of a verified erasure request, with its certificate link."""
    policy = ctx.policy
    path = links.certificate_path(ctx.vault.provider.index_key(), request.id, request.received_at)
    comms.enqueue(
        session, ctx, actor=ACTOR, kind=KIND, subject_ids=[request.subject_id],
        subject="We received your request to delete your data",
        text=_erasure_text(
            policy.policy.operator, str(policy.controller.email), request,
            completion_mail=completion_mail_offered(policy),
        ),
        html=None, secrets={request.subject_id: ctx.mail.link(path)},
    )  # fmt: skip


COMPLETED_SUBJECT = "Your deletion request has been carried out"
KEPT_REASON = (
    "Your e-mail address, only to send you the e-mail that says this deletion was carried out, "
    "with the link to this certificate. Its key is destroyed as soon as that e-mail is sent "
    "or has failed for good, and at the latest on the date shown."
)


def _completed_text(operator: str, request: DataRequest) -> str:
    return (
        "Hello,\n\n"
        f"The deletion of your personal data at {operator} that you asked for on "
        f"{request.received_at:%Y-%m-%d} (reference {str(request.id)[:8]}) has been carried "
        "out.\n\n"
        "This link opens the certificate of what was erased, and what was kept and why, "
        "without signing in:\n"
        "{{ secret }}\n\n"
        "We kept your address only to send you this e-mail; it is deleted once it is sent."
    )


def _address(session: Session, ctx: comms.Context, request: DataRequest) -> str | None:
    row = session.scalars(
        select(PersonalValue).where(
            PersonalValue.subject_id == request.subject_id,
            PersonalValue.category == EMAIL,
            PersonalValue.field == "email",
        )
    ).first()
    if row is None:
        return None
    return ctx.vault.decrypt(
        session, row.subject_id, row.retention_class, EMAIL, row.field, row.ciphertext
    )


def completion_mail_offered(policy: Policy) -> bool:
    """Whether an erasure can end with the completion e-mail: it goes out under the legal
    obligation purpose, which must be allowed to use the e-mail address."""
    if comms_rules.RIGHTS not in policy.purpose_ids:
        return False
    return EMAIL in policy.purpose(comms_rules.RIGHTS).categories


def completion_mail_days() -> int:
    """How long the address is kept at most for that e-mail, in whole days."""
    return comms_rules.OWN_KEY_TTL.days


def erasure_completed(session: Session, ctx: comms.Context, request: DataRequest) -> dict[str, Any]:
    """Queue, held, the e-mail that says the erasure is complete, to the person's address
    read now (before the shred) and sealed under the row's own key. Returns what the
    erasure's progress records — never the address: the row, its key's class and the date
    by which the key is destroyed whatever happens; or why nothing was queued."""
    try:
        address = _address(session, ctx, request)
    except DataKeyDestroyed:  # an erasure begun before this step existed, resumed past its shred
        return {"queued": False, "why": "address_already_erased"}
    if address is None:
        return {"queued": False, "why": "no_address"}
    path = links.certificate_path(ctx.vault.provider.index_key(), request.id, request.received_at)
    try:
        message = comms.enqueue(
            session, ctx, actor=ACTOR, kind=comms_rules.ERASURE_COMPLETED,
            subject_ids=[request.subject_id], subject=COMPLETED_SUBJECT,
            text=_completed_text(ctx.policy.policy.operator, request), html=None,
            secrets={request.subject_id: ctx.mail.link(path)}, internal=True,
            addresses={request.subject_id: address},
        )  # fmt: skip
    except PurposeNotDeclared:
        return {"queued": False, "why": "no_legal_obligation_purpose"}
    item = session.scalars(select(OutboxItem).where(OutboxItem.message_id == message.id)).one()
    audit.record(
        session, actor=ACTOR, action="request.erasure.completion_mail",
        subject_id=request.subject_id, categories=[EMAIL], purpose=comms_rules.RIGHTS,
        outcome="ok", clock=ctx.clock,
    )  # fmt: skip
    if item.status != comms_rules.Status.QUEUED:
        return {"queued": False, "why": item.reason or item.status}
    return {
        "queued": True,
        "message_id": str(message.id),
        "item_id": str(item.id),
        "key_class": comms_rules.row_key_class(item.id.hex),
        "until": (item.created_at + comms_rules.OWN_KEY_TTL).isoformat(),
    }


REQUESTS_PAGE = "/me/requests"


def _extension_text(operator: str, request: DataRequest, link: str) -> str:
    assert request.first_deadline_at is not None  # set by the extension before this
    assert request.extension_reason is not None
    return (
        "Hello {{ name }},\n\n"
        f"We need more time to answer your request about your personal data at {operator}, "
        f"received on {request.received_at:%Y-%m-%d} (reference {str(request.id)[:8]}). "
        f"We had until {request.first_deadline_at:%Y-%m-%d}; we will now answer by "
        f"{request.deadline_at:%Y-%m-%d}.\n\n"
        f"Why: {rules.EXTENSION_WORDS[request.extension_reason]}\n\n"
        "The law allows us to extend the deadline once (GDPR Art. 12(3)). You can follow your "
        f"request in the privacy center, under My requests: {link}"
    )


def extension_notice(
    session: Session, ctx: comms.Context, request: DataRequest, account_status: str
) -> uuid.UUID:
    """Queue the e-mail telling the person the new deadline and the reason; the id of their
    outbox row. Sent as a rights notice while the person is restricted (answering them is a
    legal obligation), otherwise as an account notice, like the verification code."""
    message = comms.enqueue(
        session, ctx, actor=ACTOR, kind=comms_rules.notice_kind(account_status),
        subject_ids=[request.subject_id], subject="We need more time to answer your request",
        text=_extension_text(ctx.policy.policy.operator, request, ctx.mail.link(REQUESTS_PAGE)),
        html=None, internal=True,
    )  # fmt: skip
    return session.scalars(select(OutboxItem.id).where(OutboxItem.message_id == message.id)).one()
