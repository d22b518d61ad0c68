"""Extending a request's deadline (GDPR Art. 12(3), decision 0029): once, for a reason from
the closed list, up to the policy's ``max_extension``, and only within the first period —
the rendered policy promises "we will tell you within the first period, with the reason", so
the same transaction queues the e-mail that tells the person the new deadline and why."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.requests import mails, rules, service
from safehold.requests.errors import AlreadyExtended, ExtensionTooLate, ReasonUnknown
from safehold.requests.models import DataRequest
from safehold.requests.rules import Status
from safehold.subjects import service as subjects


def extend(
    session: Session, ctx: service.Context, request_id: uuid.UUID, *, actor: Actor, reason: str,
    extension: str,
) -> DataRequest:  # fmt: skip
    """The one extension Art. 12(3) allows, with a reason from the closed list, made before
    the first deadline (the one the person was given) has passed; the person is e-mailed."""
    request = service.get(session, request_id, lock=True)
    if Status(request.status) in rules.TERMINAL:
        raise AlreadyExtended("the request is already answered", details={})
    if request.extended_at is not None:
        raise AlreadyExtended("the deadline was already extended once", details={})
    if reason not in rules.EXTENSION_REASONS:
        raise ReasonUnknown(
            "unknown extension reason", details={"allowed": sorted(rules.EXTENSION_REASONS)}
        )
    now = ctx.clock.now()
    if now > request.deadline_at:
        raise ExtensionTooLate(
            "the first deadline has passed: an extension must be made, and the person told, "
            "before it",
            details={"deadline_at": request.deadline_at.isoformat()},
        )
    subject = subjects.get(session, request.subject_id)  # erased -> 410: no one to tell
    policy = ctx.policy.requests
    new_deadline = rules.extended_deadline(
        request.received_at, policy.deadline, extension, policy.max_extension
    )
    request.first_deadline_at, request.deadline_at = request.deadline_at, new_deadline
    request.extended_at, request.extension_reason = now, reason
    request.extension_notice_item = mails.extension_notice(
        session, ctx.comms, request, subject.status
    )
    service.record(session, ctx, actor, "request.extend", request)
    session.flush()
    return request
