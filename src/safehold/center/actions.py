"""The requests a person makes in the privacy center: correct, download, delete, object.

Each is a data-subject request like one staff open (``requests.service.create`` with
``made_by="subject"``, channel ``privacy_center``, no code e-mailed), verified by the
sign-in itself (``verify_signed_in``: the person proved they hold the account's address
with a one-time code minutes ago), then answered at once where the law lets a machine do
it (rectification, access) or left for staff to carry out (erasure). The request log, its
deadlines and its audit entries are the same whichever way a request came in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access.rules import Actor
from safehold.analytics import service as analytics
from safehold.center import rules
from safehold.center.errors import CertificateLinkExpired, CertificateLinkInvalid
from safehold.center.service import Context
from safehold.comms import rules as comms_rules
from safehold.comms.models import OutboxItem
from safehold.requests import links, preview, restriction
from safehold.requests import rules as request_rules
from safehold.requests import service as requests
from safehold.requests.errors import ExportLinkExpired, ExportLinkInvalid, RequestNotFound
from safehold.requests.models import DataRequest
from safehold.requests.rules import Kind, Status
from safehold.sharing.models import Propagation
from safehold.subjects import rules as subject_rules


def _open(
    session: Session, ctx: Context, sid: uuid.UUID, kind: Kind, actor: Actor,
    purpose: str | None = None,
) -> DataRequest:  # fmt: skip
    request = requests.create(
        session, ctx.requests, actor=actor, subject_id=sid, kind=str(kind),
        channel=rules.CHANNEL, made_by="subject", send=False, purpose=purpose,
    )  # fmt: skip
    return requests.verify_signed_in(session, ctx.requests, request, actor=actor)


def object_to(
    session: Session, ctx: Context, sid: uuid.UUID, *, actor: Actor, purpose: str
) -> DataRequest:
    """An objection request (Art. 21), carried out at once by ``verify_signed_in``: from
    this moment the purpose is refused for the person and the reports leave them out."""
    return _open(session, ctx, sid, Kind.OBJECTION, actor, purpose)


def withdraw_objection(
    session: Session, ctx: Context, sid: uuid.UUID, *, actor: Actor, purpose: str
) -> None:
    """End the objection in force (``ObjectionNotFound`` when there is none): the purpose
    applies again from now on; what happened while it was in force stays left out."""
    analytics.withdraw_objection(
        session, subject_id=sid, purpose=purpose, actor=actor, clock=ctx.requests.clock
    )


@dataclass(frozen=True)
class Corrected:
    """A correction carried out, and the recipients told of it (Art. 19): the page says
    "we are telling the services that received them" only when there are some."""

    request: DataRequest
    told: list[str]  # recipient ids, each queued one notice by this correction


def correct(
    session: Session, ctx: Context, sid: uuid.UUID, *, actor: Actor, values: dict[str, str],
    remove: tuple[str, ...] = (),
) -> Corrected:  # fmt: skip
    """A rectification request, answered at once (``EmailTaken`` when the new address is
    another account's: the caller rolls back and says so next to the field); ``remove``
    deletes the phone number or postal address in the same request."""
    notices = select(Propagation.id, Propagation.recipient_id).where(Propagation.subject_id == sid)
    before = {row.id for row in session.execute(notices)}
    request = _open(session, ctx, sid, Kind.RECTIFICATION, actor)
    done = requests.rectify(
        session, ctx.requests, request.id, actor=actor, values=values, remove=remove
    )
    told = {row.recipient_id for row in session.execute(notices) if row.id not in before}
    return Corrected(done, sorted(told))


def export(session: Session, ctx: Context, sid: uuid.UUID, *, actor: Actor) -> requests.AccessGrant:
    """An access request, answered at once with a download link that expires."""
    request = _open(session, ctx, sid, Kind.ACCESS, actor)
    return requests.fulfil_access(session, ctx.requests, request.id, actor=actor)


def ask_erasure(session: Session, ctx: Context, sid: uuid.UUID, *, actor: Actor) -> DataRequest:
    """An erasure request, verified; staff carry it out (``erasure_already_open`` if one is)."""
    return _open(session, ctx, sid, Kind.ERASURE, actor)


def ask_restriction(session: Session, ctx: Context, sid: uuid.UUID, *, actor: Actor) -> DataRequest:
    """A restriction request (Art. 18), verified; staff decide it and apply it."""
    return _open(session, ctx, sid, Kind.RESTRICTION, actor)


@dataclass(frozen=True)
class RestrictionView:
    """What /me says about restriction: the one in force (since, why, whether the lift was
    announced), or the open request waiting for staff."""

    since: datetime | None
    why: str | None
    lift_announced_at: datetime | None
    lift_why: str | None
    open_request: DataRequest | None


def restriction_view(session: Session, ctx: Context, sid: uuid.UUID) -> RestrictionView:
    row = restriction.in_force(session, sid)
    now, still_open = ctx.requests.clock.now(), sorted(request_rules.OPEN)
    waiting = [
        r for r in requests.listing(session, now=now, status=still_open, subject_id=sid)
        if r.kind == Kind.RESTRICTION
    ]  # fmt: skip
    if row is None:
        return RestrictionView(None, None, None, None, waiting[0] if waiting else None)
    # "We e-mailed you" only once that e-mail has really gone out.
    notice = session.get(OutboxItem, (sid, row.lift_notice_item)) if row.lift_notice_item else None
    sent = notice is not None and notice.status == comms_rules.Status.SENT
    return RestrictionView(
        since=row.applied_at,
        why=subject_rules.RESTRICTION_REASONS.get(row.reason, row.reason),
        lift_announced_at=row.lift_notice_at if sent else None,
        lift_why=subject_rules.LIFT_REASONS.get(row.lift_reason or ""),
        open_request=None,
    )


# --- what the person is shown about their requests ------------------------------------------


@dataclass(frozen=True)
class Held:
    category: str  # its label
    why: str
    basis: str
    until: datetime
    hold: bool  # a legal hold rather than a retention rule


@dataclass(frozen=True)
class ErasurePreview:
    erased: list[str]  # category labels
    kept: list[Held]
    always_kept: list[tuple[str, str]]  # the policy's operational retention: (what, why)
    open_request: DataRequest | None


def erasure_preview(session: Session, ctx: Context, sid: uuid.UUID) -> ErasurePreview:
    """What an erasure would do now, from the same plan the erasure job records first."""
    policy = ctx.requests.policy
    plan = preview.plan_for(session, ctx.requests, sid)
    label = {c.id: c.label for c in policy.categories}
    kept = [
        Held(label.get(h.category, h.category), h.reason, h.legal_basis, h.until,
             h.kind == "legal_hold")
        for h in plan.kept
    ]  # fmt: skip
    return ErasurePreview(
        erased=[label.get(c, c) for c in plan.erase_categories],
        kept=kept,
        always_kept=[(o.what, o.reason) for o in policy.requests.operational_retention],
        open_request=requests.open_erasure(session, sid),
    )


@dataclass(frozen=True)
class RequestRow:
    request: DataRequest
    ref: str
    kind: str
    status: str
    overdue: bool
    rejection: str | None
    extension: str | None  # why the deadline was extended, in the person's words
    certificate: str | None  # a signed link (erasures: it outlives the sign-in)
    download: str | None  # a live export link
    download_expires_at: datetime | None


def certificate_path(ctx: Context, request: DataRequest) -> str:
    index_key = ctx.requests.vault.provider.index_key()
    return links.certificate_path(index_key, request.id, request.received_at)


def _download(ctx: Context, request: DataRequest, now: datetime) -> tuple[str, datetime] | None:
    """The export link of an answered access request, while it works (the same token
    ``fulfil_access`` issued: the link is the request id and its expiry, signed)."""
    answered = (request.progress or {}).get("access")
    if request.kind != Kind.ACCESS or request.status != Status.COMPLETED or not answered:
        return None
    expires_at = datetime.fromisoformat(str(answered["link_expires_at"]))
    if not rules.link_live(expires_at, now):
        return None
    token = links.make_token(requests.export_key(ctx.requests), request.id, expires_at)
    return f"{links.PREFIX}{token}", expires_at


def my_requests(session: Session, ctx: Context, sid: uuid.UUID) -> list[RequestRow]:
    """The person's requests, newest first. The log holds no personal data (kinds, dates,
    states), so listing it is not an audited read."""
    now = ctx.requests.clock.now()
    found = requests.listing(session, now=now, subject_id=sid)
    rows = []
    for r in sorted(found, key=lambda r: r.received_at, reverse=True):
        download = _download(ctx, r, now)
        rows.append(
            RequestRow(
                request=r, ref=rules.request_ref(r.id), kind=rules.KIND_WORDS.get(r.kind, r.kind),
                status=rules.STATUS_WORDS.get(r.status, r.status),
                overdue=request_rules.is_overdue(r.status, r.deadline_at, now),
                rejection=request_rules.REJECTION_REASONS.get(r.rejection_reason or ""),
                extension=request_rules.EXTENSION_WORDS.get(r.extension_reason or ""),
                certificate=certificate_path(ctx, r) if r.kind == Kind.ERASURE else None,
                download=download[0] if download else None,
                download_expires_at=download[1] if download else None,
            )
        )  # fmt: skip
    return rows


def own_request(session: Session, sid: uuid.UUID, request_id: uuid.UUID) -> DataRequest:
    """The person's own request; another person's is answered exactly like a missing one."""
    request = session.get(DataRequest, (sid, request_id))
    if request is None:
        raise RequestNotFound("no request with that id", details={})
    return request


def by_link(session: Session, ctx: Context, request_id: uuid.UUID, token: str) -> DataRequest:
    """The erasure request a certificate link names, without a sign-in (the link is the
    authority, and what it opens holds no personal data)."""
    key = rules.certificate_key(ctx.requests.vault.provider.index_key())
    try:
        link = links.read_token(key, token, ctx.requests.clock.now())
    except ExportLinkExpired:
        raise CertificateLinkExpired("this certificate link has expired", details={}) from None
    except ExportLinkInvalid:
        raise CertificateLinkInvalid("this certificate link is not valid", details={}) from None
    request = session.scalars(select(DataRequest).where(DataRequest.id == link.request_id)).first()
    if link.request_id != request_id or request is None or request.kind != Kind.ERASURE:
        raise CertificateLinkInvalid("this certificate link is not valid", details={})
    return request
