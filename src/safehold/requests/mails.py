"""E-mails about a person's own request (issue 17 item 11, decision 0024; the extension
notice, decision 0029).

An erasure request is confirmed by e-mail once it is verified — made in the privacy center,
or verified with the code staff sent — and the e-mail carries the signed certificate link
(:func:`links.certificate_path`, built from ``SAFEHOLD_BASE_URL`` by ``MailConfig.link``):
after the erasure the person cannot sign in any more, and the link opens the certificate
without a sign-in. The link is the outbox row's sealed ``{{ secret }}`` (a bearer link is
not written into the message's templates, which the ``messages`` table keeps); the worker
renders it like a code and drops it once the e-mail is sent.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.comms import rules as comms_rules
from safehold.comms import service as comms
from safehold.comms.models import OutboxItem
from safehold.policy.durations import add_duration
from safehold.requests import links, rules
from safehold.requests.models import DataRequest

KIND = "account_notice"  # about the person's own account: communication.service
ACTOR = Actor("system", "requests")


def _erasure_text(ctx_operator: str, controller: str, request: DataRequest) -> str:
    until = add_duration(request.received_at, links.CERTIFICATE_LINK_TTL)
    return (
        "Hello {{ name }},\n\n"
        f"We received your request to delete your personal data at {ctx_operator} on "
        f"{request.received_at:%Y-%m-%d} (reference {str(request.id)[:8]}). We will carry it "
        f"out by {request.deadline_at:%Y-%m-%d}.\n\n"
        "Once your data is erased you cannot sign in any more, so keep this link. It opens "
        "the certificate of what was erased, and what was kept and why, without signing in, "
        f"until {until:%Y-%m-%d}; until the deletion is done it says so:\n"
        "{{ secret }}\n\n"
        f"If you did not ask for this, write to us at once: {controller}."
    )


def erasure_received(session: Session, ctx: comms.Context, request: DataRequest) -> None:
    """Queue the confirmation of a verified erasure request, with its certificate link."""
    policy = ctx.policy
    path = links.certificate_path(ctx.vault.provider.index_key(), request.id, request.received_at)
    comms.enqueue(
        session, ctx, actor=ACTOR, kind=KIND, subject_ids=[request.subject_id],
        subject="We received your request to delete your data",
        text=_erasure_text(policy.policy.operator, str(policy.controller.email), request),
        html=None, secrets={request.subject_id: ctx.mail.link(path)},
    )  # fmt: skip


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
