"""Messages, marketing preferences and bounce reports (API keys), and the public one-click
unsubscribe page (no sign-in, no cookies: the token in the link is the credential)."""

from __future__ import annotations

import uuid
from typing import Annotated

import jinja2
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from safehold.access import service as access
from safehold.access.models import ApiKey
from safehold.comms import preferences, rules, service, suppression
from safehold.comms.errors import UnsubscribeLinkInvalid, UnsubscribeLinkOutdated
from safehold.comms.models import OutboxItem
from safehold.comms.schemas import (
    BounceIn,
    BounceOut,
    ChoiceIn,
    ChoiceOut,
    MessageIn,
    MessageOut,
    PreferenceOut,
    RecipientOut,
    RecipientsOut,
    RequeueOut,
)
from safehold.deps import ActorDep, RuntimeDep, SessionDep, require_scope
from safehold.subjects.service import WRITE_PURPOSE

router = APIRouter(tags=["messages"])
pages = APIRouter(tags=["pages"], include_in_schema=False)
Sender = Annotated[ApiKey, Depends(require_scope("messages:send"))]
SEND = Depends(require_scope("messages:send"))
ADMIN = Depends(require_scope("messages:admin"))
Reader = Annotated[ApiKey, Depends(require_scope("subjects:read"))]
Writer = Annotated[ApiKey, Depends(require_scope("subjects:write"))]


def _message_out(view: service.MessageView) -> MessageOut:
    m = view.message
    return MessageOut(
        id=m.id,
        kind=m.kind,
        purpose=m.purpose,
        audience=m.audience,
        created_at=m.created_at,
        policy_version=m.policy_version,
        total=view.total,
        counts=view.counts,
        reasons=view.reasons,
    )


def _recipient_out(item: OutboxItem) -> RecipientOut:
    pending = item.status in rules.PENDING
    return RecipientOut(
        subject_id=item.subject_id,
        status=item.status,
        reason=item.reason,
        attempts=item.attempts,
        next_attempt_at=item.next_attempt_at if pending else None,
        sent_at=item.sent_at,
        message_id=item.mail_message_id,
    )


@router.post("/v1/messages", status_code=201, summary="Send a message to people")
def send(
    body: MessageIn, session: SessionDep, runtime: RuntimeDep, key: Sender, actor: ActorDep
) -> MessageOut:
    ctx = service.context(runtime)
    access.require_purpose(
        key, service.purpose_of(body.kind, ctx.policy), declared=runtime.policy.purpose_ids
    )
    message = service.enqueue(
        session,
        ctx,
        actor=actor,
        kind=body.kind,
        subject_ids=None if body.audience.all else body.audience.subject_ids,
        subject=body.subject,
        text=body.text,
        html=body.html,
    )
    view = service.view(session, message.id)
    session.commit()
    return _message_out(view)


@router.post(
    "/v1/messages/bounces", summary="Record a hard bounce or complaint", dependencies=[ADMIN]
)
def bounce(body: BounceIn, session: SessionDep, runtime: RuntimeDep, actor: ActorDep) -> BounceOut:
    recorded = suppression.record_report(
        session,
        runtime.vault,
        email=body.email,
        kind=rules.SuppressionKind(body.kind),
        source="api",
        actor=actor,
        clock=runtime.clock,
    )
    session.commit()
    return BounceOut(recorded=recorded)


@router.get(
    "/v1/messages/{message_id:uuid}",
    summary="A message and its delivery counts",
    dependencies=[SEND],
)
def get_message(message_id: uuid.UUID, session: SessionDep) -> MessageOut:
    return _message_out(service.view(session, message_id))


@router.get(
    "/v1/messages/{message_id}/recipients",
    summary="Delivery status per recipient",
    dependencies=[SEND],
)
def list_recipients(
    message_id: uuid.UUID,
    session: SessionDep,
    status: Annotated[str | None, Query(pattern="^[a-z]+$", max_length=16)] = None,
    after: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RecipientsOut:
    items = service.recipients(session, message_id, status=status, after=after, limit=limit)
    return RecipientsOut(
        items=[_recipient_out(i) for i in items],
        next_after=items[-1].id if len(items) == limit else None,
    )


@router.post(
    "/v1/messages/{message_id}/requeue",
    summary="Queue failed deliveries again",
    dependencies=[ADMIN],
)
def requeue(message_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep) -> RequeueOut:
    count = service.requeue_failed(session, message_id, clock=runtime.clock)
    session.commit()
    return RequeueOut(requeued=count)


def _preference_out(pref: service.Preference) -> PreferenceOut:
    return PreferenceOut(
        subject_id=pref.subject_id,
        choice=pref.choice,
        receives_marketing=pref.rule is None,
        rule=pref.rule,
        history=[
            ChoiceOut(
                choice=c.choice,
                at=c.at,
                channel=c.channel,
                actor=c.actor,
                policy_version=c.policy_version,
                reference=c.reference,
            )
            for c in pref.history
        ],
    )


@router.get("/v1/subjects/{subject_id}/marketing", summary="A person's marketing choice")
def get_preference(
    subject_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, key: Reader, actor: ActorDep
) -> PreferenceOut:
    access.require_purpose(key, WRITE_PURPOSE, declared=runtime.policy.purpose_ids)
    pref = service.preference(session, service.context(runtime), subject_id, actor=actor)
    session.commit()
    return _preference_out(pref)


@router.post("/v1/subjects/{subject_id}/marketing", summary="Record a marketing choice")
def set_preference(
    subject_id: uuid.UUID, body: ChoiceIn, session: SessionDep, runtime: RuntimeDep,
    key: Writer, actor: ActorDep,
) -> PreferenceOut:  # fmt: skip
    access.require_purpose(key, WRITE_PURPOSE, declared=runtime.policy.purpose_ids)
    pref = service.set_preference(
        session,
        service.context(runtime),
        subject_id,
        choice=body.choice,
        channel=body.channel,
        actor=actor,
    )
    session.commit()
    return _preference_out(pref)


# The one-click unsubscribe page -------------------------------------------------------------

_PAGES = jinja2.Environment(
    loader=jinja2.PackageLoader("safehold.comms", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
TITLES = {
    "confirm": "Unsubscribe from marketing e-mails",
    "done": "You are unsubscribed",
    "already": "You are unsubscribed",
    "outdated": "This link is out of date",
    "invalid": "This link is not valid",
}
# The content security policy and the rest come from web.security for every HTML page.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the URL
    "X-Robots-Tag": "noindex",
}


def _page(request: Request, runtime: RuntimeDep, state: str, status: int = 200) -> HTMLResponse:
    ctx = service.context(runtime)
    html = _PAGES.get_template("unsubscribe.html.j2").render(
        state=state,
        title=TITLES[state],
        action=request.url.path,
        language=ctx.policy.policy.language,
        controller=ctx.policy.controller.name,
        controller_email=ctx.policy.controller.email,
        **ctx.template_context(),
    )
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


@pages.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(
    token: str, request: Request, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    """The confirmation page. Showing it never unsubscribes (link scanners open links)."""
    try:
        target = preferences.resolve_link(session, runtime.vault, token)
    except UnsubscribeLinkInvalid:
        return _page(request, runtime, "invalid", 404)
    return _page(request, runtime, "already" if target.opted_out else "confirm")


@pages.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_one_click(
    token: str, request: Request, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    """RFC 8058 one-click: the mail client POSTs ``List-Unsubscribe=One-Click`` here (the body
    is not needed: the token decides). Idempotent; 200, never a redirect."""
    ctx = service.context(runtime)
    try:
        changed = preferences.unsubscribe(
            session,
            runtime.vault,
            token,
            channel="one_click",
            clock=runtime.clock,
            policy_version=ctx.policy_label(),
            request_id=getattr(request.state, "request_id", None),
        )
    except UnsubscribeLinkInvalid:
        return _page(request, runtime, "invalid", 404)
    except UnsubscribeLinkOutdated:
        return _page(request, runtime, "outdated", 409)
    session.commit()
    return _page(request, runtime, "done" if changed else "already")
