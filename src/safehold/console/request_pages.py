"""Console pages for data-subject requests: the overview, the queue by deadline, one
request with the forms its state allows, and its erasure certificate.

Every action is a form post (CSRF-checked) that calls the requests service with the staff
member's key as the audit actor; a refusal re-renders the request's page with the message
next to the form that caused it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from safehold.access.rules import Actor, holds
from safehold.center import actions as center_actions
from safehold.center import service as center
from safehold.console import common, owned, rules, service
from safehold.console.common import Field
from safehold.deps import RuntimeDep, SessionDep
from safehold.errors import SafeholdError
from safehold.requests import certificate, jobs, mails, restriction
from safehold.requests import rules as request_rules
from safehold.requests import service as requests
from safehold.requests.errors import CertificateNotReady
from safehold.requests.extension import extend as extend_deadline
from safehold.requests.rules import Kind, Status
from safehold.runtime import Runtime
from safehold.subjects import rules as subject_rules
from safehold.web import pages
from safehold.web.pages import CsrfDep, StaffDep
from safehold.web.sessions import SignedIn

router = APIRouter(include_in_schema=False)
SCOPE = "requests:open"  # open and act on requests
EXECUTE = "requests:execute"  # carry out an erasure (decision 0040)


@router.get("/admin", response_class=HTMLResponse)
def overview(
    request: Request, signed_in: StaffDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    key = common.guard(signed_in, None)
    figures = service.overview(session, runtime.clock.now()) if holds(key.scopes, SCOPE) else None
    return common.page(request, signed_in, "console/overview.html", {"figures": figures})


@router.get("/admin/requests", response_class=HTMLResponse)
def queue(
    request: Request, signed_in: StaffDep, session: SessionDep, runtime: RuntimeDep,
    status: str | None = None, kind: str | None = None, owner: str | None = None,
) -> HTMLResponse:  # fmt: skip
    """Opens, for a staff member, on their own open requests, soonest deadline first."""
    common.guard(signed_in, SCOPE)
    status, statuses = rules.queue_filter(status)
    kind = kind if kind in set(Kind) else None
    member = signed_in.member
    owner = rules.queue_owner(owner, member=member is not None)
    rows = service.queue(
        session, runtime.clock.now(), statuses=statuses, kind=kind,
        assignee=member.id if member is not None and owner == rules.OWNER_MINE else None,
        unassigned=owner == rules.OWNER_NOBODY,
    )  # fmt: skip
    return common.page(
        request, signed_in, "console/queue.html",
        {"rows": rows, "status": status, "kind": kind, "statuses": list(Status),
         "kinds": list(Kind), "owner": owner,
         "owners": {k: v for k, v in rules.OWNER_CHOICES.items()
                    if member is not None or k != rules.OWNER_MINE},
         "names": owned.names(session, {row.request.assignee_id for row in rows})},
    )  # fmt: skip


def detail_page(
    request: Request, signed_in: SignedIn, session: SessionDep, runtime: Runtime,
    request_id: uuid.UUID, *, errors: dict[str, str] | None = None, status_code: int = 200,
    extra: dict[str, Any] | None = None,
) -> HTMLResponse:  # fmt: skip
    view = service.request_page(session, request_id, runtime.clock.now())
    notice = rules.NOTICES.get(request.query_params.get("done", ""))
    if "erase" in view.actions and view.request.status != Status.IN_PROGRESS:
        # the very plan the person was shown on /me/delete, as it stands now
        plan = center_actions.erasure_preview(session, center.context(runtime),
                                              view.request.subject_id)  # fmt: skip
        mail_days = mails.completion_mail_days() if mails.completion_mail_offered(
            runtime.policy) else None  # fmt: skip
        extra = {"plan": plan, "completion_mail_days": mail_days, **(extra or {})}
    context = owned.page_context(request, signed_in, session, runtime, view.request)
    session.commit()  # the notes' read is audited
    return common.page(
        request, signed_in, "console/request.html",
        {"view": view, "r": view.request, "errors": errors or {}, "notice": notice,
         "rejection_reasons": request_rules.REJECTION_REASONS,
         "extension_reasons": request_rules.EXTENSION_REASONS,
         "extension_choices": rules.extension_choices(runtime.policy.requests.max_extension),
         "address_parts": request_rules.ADDRESS_PARTS,
         "restriction_reasons": subject_rules.RESTRICTION_REASONS,
         "lift_reasons": subject_rules.LIFT_REASONS, **context, **(extra or {})},
        status_code=status_code,
    )  # fmt: skip


@router.get("/admin/requests/{request_id}", response_class=HTMLResponse)
def detail(
    request: Request, request_id: uuid.UUID, signed_in: StaffDep, session: SessionDep,
    runtime: RuntimeDep,
) -> HTMLResponse:  # fmt: skip
    common.guard(signed_in, SCOPE)
    return detail_page(request, signed_in, session, runtime, request_id)


def _act(
    request: Request, signed_in: SignedIn, session: SessionDep, runtime: Runtime,
    request_id: uuid.UUID, field: str, done: str, action: Callable[[], object],
) -> Response:  # fmt: skip
    """Run one action; on success back to the page with a notice, on a refusal the same
    page with the message next to ``field`` (a refused code still counts as an attempt)."""
    try:
        action()
    except SafeholdError as exc:
        if exc.keeps_writes:
            session.commit()
        else:
            session.rollback()
        return detail_page(
            request, signed_in, session, runtime, request_id,
            errors={field: common.message(exc)}, status_code=common.status_of(exc),
        )  # fmt: skip
    session.commit()
    return pages.redirect(f"/admin/requests/{request_id}?done={done}")


Act = Callable[[requests.Context, Actor, str], object]


def _with_reason(
    request: Request, signed_in: SignedIn, session: SessionDep, runtime: Runtime,
    request_id: uuid.UUID, reason: str | None, *, allowed: Collection[str], field: str,
    ask: str, done: str, action: Act, refusal_field: str | None = None,
) -> Response:  # fmt: skip
    """An action that needs a reason code from a closed list: a missing or unknown one is
    the page again with ``ask`` next to ``field`` (422); otherwise :func:`_act`, whose
    refusal is shown next to ``refusal_field`` (default ``field``)."""
    common.guard(signed_in, SCOPE)
    if reason is None or reason not in allowed:
        return detail_page(request, signed_in, session, runtime, request_id, errors={field: ask},
                       status_code=422)  # fmt: skip
    ctx, actor = common.requests_context(runtime), pages.actor_of(request, signed_in)
    return _act(
        request, signed_in, session, runtime, request_id, refusal_field or field, done,
        lambda: action(ctx, actor, reason),
    )  # fmt: skip


@router.post("/admin/requests/{request_id}/code")
def send_code(
    request: Request, request_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep,
) -> Response:  # fmt: skip
    common.guard(signed_in, SCOPE)
    actor = pages.actor_of(request, signed_in)

    def action() -> None:
        found = requests.get(session, request_id, lock=True)
        requests.issue_code(session, common.requests_context(runtime), found, actor=actor)

    return _act(request, signed_in, session, runtime, request_id, "send_code", "code_sent", action)


@router.post("/admin/requests/{request_id}/verify")
def verify(
    request: Request, request_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep, code: Field = None,
) -> Response:  # fmt: skip
    common.guard(signed_in, SCOPE)
    digits = request_rules.typed_code(code)
    if digits is None:
        return detail_page(
            request, signed_in, session, runtime, request_id, status_code=422,
            errors={"code": f"Type the {request_rules.CODE_DIGITS} digits the person read out."},
        )  # fmt: skip
    ctx, actor = common.requests_context(runtime), pages.actor_of(request, signed_in)
    return _act(
        request, signed_in, session, runtime, request_id, "code", "verified",
        lambda: requests.verify(session, ctx, request_id, actor=actor, code=digits),
    )  # fmt: skip


@router.post("/admin/requests/{request_id}/extend")
def extend(
    request: Request, request_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep, reason: Field = None, extension: Field = None,
) -> Response:  # fmt: skip
    common.guard(signed_in, SCOPE)
    wanted = (extension or "").strip()
    if wanted not in rules.extension_choices(runtime.policy.requests.max_extension):
        ask = {"extension": "Choose how long to extend the deadline by."}
        return detail_page(request, signed_in, session, runtime, request_id, errors=ask,
                       status_code=422)  # fmt: skip
    return _with_reason(
        request, signed_in, session, runtime, request_id, reason,
        allowed=request_rules.EXTENSION_REASONS, field="extension_reason",
        ask="Choose the reason for the extension.", done="extended", refusal_field="extension",
        action=lambda ctx, actor, why: extend_deadline(
            session, ctx, request_id, actor=actor, reason=why, extension=wanted),
    )  # fmt: skip


@router.post("/admin/requests/{request_id}/reject")
def reject(
    request: Request, request_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep, reason: Field = None,
) -> Response:  # fmt: skip
    return _with_reason(
        request, signed_in, session, runtime, request_id, reason,
        allowed=request_rules.REJECTION_REASONS, field="rejection_reason",
        ask="Choose the reason for the rejection.", done="rejected",
        action=lambda ctx, actor, why: requests.reject(
            session, ctx, request_id, actor=actor, reason=why),
    )  # fmt: skip


@router.post("/admin/requests/{request_id}/erasure")
def erase(
    request: Request, request_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep, confirm: Field = None,
) -> Response:  # fmt: skip
    """Only once the staff member has ticked that they checked the plan on the page."""
    common.guard(signed_in, EXECUTE)
    if confirm != "yes":
        ask = {"confirm": "Tick the box to confirm the plan above before carrying it out."}
        return detail_page(request, signed_in, session, runtime, request_id, errors=ask,
                       status_code=422)  # fmt: skip
    ctx, actor = common.requests_context(runtime), pages.actor_of(request, signed_in)
    session.commit()  # the job owns its transactions (one per step): hold nothing meanwhile
    return _act(
        request, signed_in, session, runtime, request_id, "answer", "erased",
        lambda: jobs.erase(runtime.sessions, ctx, request_id, actor=actor),
    )  # fmt: skip


@router.post("/admin/requests/{request_id}/access", response_class=HTMLResponse)
def fulfil_access(
    request: Request, request_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep,
) -> Response:  # fmt: skip
    """The download link is shown once, on this answer (it is not stored anywhere)."""
    common.guard(signed_in, SCOPE)
    ctx, actor = common.requests_context(runtime), pages.actor_of(request, signed_in)
    try:
        grant = requests.fulfil_access(session, ctx, request_id, actor=actor)
    except SafeholdError as exc:
        session.rollback()
        errors = {"answer": common.message(exc)}
        return detail_page(request, signed_in, session, runtime, request_id, errors=errors,
                       status_code=common.status_of(exc))  # fmt: skip
    session.commit()
    return detail_page(request, signed_in, session, runtime, request_id, extra={"grant": grant})


@router.post("/admin/requests/{request_id}/objection")
def object_to(
    request: Request, request_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep,
) -> Response:  # fmt: skip
    common.guard(signed_in, SCOPE)
    ctx, actor = common.requests_context(runtime), pages.actor_of(request, signed_in)
    return _act(
        request, signed_in, session, runtime, request_id, "answer", "objected",
        lambda: requests.object_to(session, ctx, request_id, actor=actor),
    )  # fmt: skip


@router.post("/admin/requests/{request_id}/rectification")
def rectify(
    request: Request, request_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep, name: Field = None, email: Field = None,
    phone: Field = None, street: Field = None, postal_code: Field = None, city: Field = None,
    country: Field = None,
) -> Response:  # fmt: skip
    """Only the fields filled in are corrected; the values are never put back in the page."""
    common.guard(signed_in, SCOPE)
    given = {"name": name, "email": email, "phone": phone, "street": street,
             "postal_code": postal_code, "city": city, "country": country}  # fmt: skip
    values = {k: v.strip() for k, v in given.items() if v and v.strip()}
    ctx, actor = common.requests_context(runtime), pages.actor_of(request, signed_in)
    return _act(
        request, signed_in, session, runtime, request_id, "rectify", "rectified",
        lambda: requests.rectify(session, ctx, request_id, actor=actor, values=values),
    )  # fmt: skip


@router.post("/admin/requests/{request_id}/restriction")
def restrict(
    request: Request, request_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep, reason: Field = None,
) -> Response:  # fmt: skip
    return _with_reason(
        request, signed_in, session, runtime, request_id, reason,
        allowed=subject_rules.RESTRICTION_REASONS, field="restriction_reason",
        ask="Choose the ground for the restriction.", done="restricted",
        action=lambda ctx, actor, why: restriction.apply(
            session, ctx, request_id, actor=actor, reason=why),
    )  # fmt: skip


@router.post("/admin/requests/{request_id}/restriction/lift-notice")
def announce_lift(
    request: Request, request_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep, reason: Field = None,
) -> Response:  # fmt: skip
    return _with_reason(
        request, signed_in, session, runtime, request_id, reason,
        allowed=subject_rules.LIFT_REASONS, field="lift_reason",
        ask="Choose why the restriction ends.", done="lift_announced",
        action=lambda ctx, actor, why: restriction.announce_lift(
            session, ctx, request_id, actor=actor, reason=why),
    )  # fmt: skip


@router.post("/admin/requests/{request_id}/restriction/lift")
def lift(
    request: Request, request_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep,
) -> Response:  # fmt: skip
    common.guard(signed_in, SCOPE)
    ctx, actor = common.requests_context(runtime), pages.actor_of(request, signed_in)
    return _act(
        request, signed_in, session, runtime, request_id, "lift", "lifted",
        lambda: restriction.lift(session, ctx, request_id, actor=actor),
    )  # fmt: skip


def _certificate(session: SessionDep, request_id: uuid.UUID) -> dict[str, object]:
    found = requests.get(session, request_id)
    if found.certificate is None:
        raise CertificateNotReady("no certificate: the erasure has not finished", details={})
    return found.certificate


@router.get("/admin/requests/{request_id}/certificate", response_class=HTMLResponse)
def certificate_page(
    request_id: uuid.UUID, signed_in: StaffDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    common.guard(signed_in, SCOPE)
    cert = _certificate(session, request_id)
    page = HTMLResponse(certificate.render_html(cert, runtime.policy))
    page.headers["cache-control"] = "no-store"
    return page


@router.get("/admin/requests/{request_id}/certificate.json")
def certificate_json(request_id: uuid.UUID, signed_in: StaffDep, session: SessionDep) -> Response:
    common.guard(signed_in, SCOPE)
    return JSONResponse(
        _certificate(session, request_id),
        headers={"content-disposition": f'inline; filename="certificate-{request_id}.json"'},
    )
