"""The privacy center's pages under /me. Every page needs the signed-in person; what it
shows comes from :mod:`safehold.center.service` and :mod:`safehold.center.actions`, with the
person as the actor of every audit entry. Form fields are checked here and a wrong one is
shown next to its field on the same page (status 422); a change answers with a redirect
(POST, redirect, GET) to a page that says what was done.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from safehold import ratelimit
from safehold.analytics.errors import ObjectionNotFound
from safehold.center import actions, email_change, rules, service
from safehold.deps import RuntimeDep, SessionDep
from safehold.errors import RateLimited
from safehold.requests import mails
from safehold.requests import rules as request_rules
from safehold.requests.errors import (
    CodeAttemptsExhausted,
    CodeExpired,
    CodeInvalid,
    CodeMissing,
    ErasureAlreadyOpen,
    RestrictionInForce,
)
from safehold.subjects.errors import EmailTaken
from safehold.web import pages
from safehold.web.auth import CODE_ERRORS
from safehold.web.models import EmailChange
from safehold.web.pages import CsrfDep, PersonDep
from safehold.web.sessions import SignedIn

router = APIRouter(include_in_schema=False)
Field = Annotated[str | None, Form()]
OPEN = "requests.open.subject"  # the same limit as requests opened through the API
DONE = {
    "details": "Your details are corrected.",  # no recipient to tell (Art. 19)
    "details_told": "Your details are corrected. The services that received them are being "
    "told of the correction.",
    "email_code": "We sent a code to your new e-mail address: type it below to confirm it. "
    "Your current address keeps working until then, and we told it about the change.",
    "email": "Your new e-mail address is confirmed: sign in with it from now on. We told "
    "your previous address.",
    "marketing": "Your marketing choice is saved and applies from now on.",
    "policy": "Thank you: your acceptance of the policy in force is recorded.",
    "restriction": "Your request to restrict processing is confirmed. Our staff decide it "
    "before the date below.",
    "objected": "Your objection is recorded and applies from now on.",
    "withdrawn": "Your objection is withdrawn: this use applies to you again from now on.",
    "erasure": "Your deletion request is confirmed, and we are e-mailing you the confirmation "
    "with the certificate link below. Keep it: once your data is erased you cannot sign in "
    "any more, and the link will show what was done.",
}


def _sid(person: SignedIn) -> uuid.UUID:
    assert person.subject_id is not None  # PersonDep only lets people through
    return person.subject_id


def _page(
    request: Request, name: str, context: dict[str, object], status_code: int = 200
) -> HTMLResponse:
    done = request.query_params.get("done")
    notice = DONE.get(done or "")
    return pages.render(
        request, f"center/{name}.html", {"done": notice, **context}, status_code=status_code
    )


@router.get("/me", response_class=HTMLResponse)
def overview(
    request: Request, person: PersonDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    ctx = service.context(runtime)
    view = service.overview(session, ctx, _sid(person), actor=pages.actor_of(request, person))
    restricted = actions.restriction_view(session, ctx, _sid(person))
    session.commit()  # the reads' audit entries
    return _page(request, "overview", {"view": view, "here": "overview", "restricted": restricted})


def _details_page(
    request: Request, values: dict[str, str], errors: dict[str, str], status_code: int = 200,
    refused: str | None = None, change: EmailChange | None = None,
) -> HTMLResponse:  # fmt: skip
    return _page(
        request, "details",
        {"values": values, "errors": errors, "refused": refused, "here": "details",
         "change": change},
        status_code=status_code,
    )  # fmt: skip


@router.get("/me/details", response_class=HTMLResponse)
def details_page(
    request: Request, person: PersonDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    ctx = service.context(runtime)
    actor = pages.actor_of(request, person)
    values, refused = service.current_details(session, ctx, _sid(person), actor=actor)
    change = email_change.pending(session, ctx, _sid(person))
    session.commit()
    return _details_page(request, values, {}, refused=refused, change=change)


@router.post("/me/details", response_class=HTMLResponse)
def correct_details(
    request: Request, _csrf: CsrfDep, person: PersonDep, session: SessionDep,
    runtime: RuntimeDep, name: Field = None, email: Field = None, phone: Field = None,
    street: Field = None, postal_code: Field = None, city: Field = None, country: Field = None,
) -> Response:  # fmt: skip
    ctx = service.context(runtime)
    actor = pages.actor_of(request, person)
    typed = {"name": name, "email": email, "phone": phone, "street": street,
             "postal_code": postal_code, "city": city, "country": country}  # fmt: skip
    current, _ = service.current_details(session, ctx, _sid(person), actor=actor)
    checked = rules.check_details(typed, current)
    shown = {k: v or "" for k, v in typed.items()}
    if checked.errors:
        session.commit()  # the read of what is held (to compare) stays in the audit log
        return _details_page(request, shown, checked.errors, status_code=422)
    if not checked.values and not checked.removed:
        session.commit()
        return _page(request, "details", {"values": shown, "errors": {}, "here": "details",
                                          "unchanged": True})  # fmt: skip
    others = {k: v for k, v in checked.values.items() if k != "email"}
    new_email = checked.values.get("email")
    try:
        with ratelimit.attempt(runtime, (OPEN, str(_sid(person)))):
            try:
                told = bool(others or checked.removed) and bool(  # all but the address at once
                    actions.correct(
                        session, ctx, _sid(person), actor=actor, values=others,
                        remove=tuple(checked.removed),
                    ).told
                )  # fmt: skip
                if new_email is not None:  # that one waits for the code sent to it
                    email_change.request_change(
                        session, ctx, _sid(person), actor=actor, new=new_email,
                        old=current["email"],
                    )  # fmt: skip
            except EmailTaken:
                session.rollback()
                message = "Another account already uses this e-mail address."
                return _details_page(request, shown, {"email": message}, status_code=422)
            session.commit()
    except RateLimited as exc:  # the requests opened here, or the codes sent: per hour
        session.rollback()
        wait = max(1, exc.retry_after // 60)
        message = f"Too many changes in the last hour. Try again in {wait} minutes."
        field = "email" if new_email is not None else "name"
        return _details_page(request, shown, {field: message}, status_code=429)
    done = "email_code" if new_email else "details_told" if told else "details"
    return pages.redirect(f"/me/details?done={done}")


@router.post("/me/details/email", response_class=HTMLResponse)
def confirm_email(
    request: Request, _csrf: CsrfDep, person: PersonDep, session: SessionDep,
    runtime: RuntimeDep, code: Field = None,
) -> Response:  # fmt: skip
    """The code e-mailed to the new address: right, the address becomes the account's (a
    rectification request, like any correction here); wrong, the try counts."""
    ctx = service.context(runtime)
    actor = pages.actor_of(request, person)
    sid = _sid(person)
    current, _ = service.current_details(session, ctx, sid, actor=actor)

    def again(message: str, status_code: int) -> HTMLResponse:
        change = email_change.pending(session, ctx, sid)
        session.commit()  # the read's audit entry, a counted try
        return _details_page(request, current, {"code": message}, status_code, change=change)

    digits = request_rules.typed_code(code)
    if digits is None:
        return again("Type the 8 digits of the code.", 422)
    # Guessing is bounded by the change itself: 5 tries per code, 5 codes per hour.
    try:
        new = email_change.confirm_change(
            session, ctx, sid, actor=actor, code=digits, old=current["email"]
        )
        actions.correct(session, ctx, sid, actor=actor, values={"email": new})
    except (CodeInvalid, CodeExpired, CodeAttemptsExhausted, CodeMissing) as exc:
        return again(CODE_ERRORS[type(exc)], 422)
    except EmailTaken:  # taken by another account since the code was sent
        session.rollback()
        return again("Another account uses this e-mail address now.", 422)
    session.commit()
    return pages.redirect("/me/details?done=email")


@router.get("/me/marketing", response_class=HTMLResponse)
def marketing_page(
    request: Request, person: PersonDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    ctx = service.context(runtime)
    pref = service.marketing(session, ctx, _sid(person), actor=pages.actor_of(request, person))
    session.commit()
    return _page(request, "marketing", {"pref": pref, "errors": {}, "here": "marketing"})


@router.post("/me/marketing", response_class=HTMLResponse)
def choose_marketing(
    request: Request, _csrf: CsrfDep, person: PersonDep, session: SessionDep,
    runtime: RuntimeDep, receive: Field = None,
) -> Response:  # fmt: skip
    ctx = service.context(runtime)
    actor = pages.actor_of(request, person)
    if receive not in {"yes", "no"}:
        pref = service.marketing(session, ctx, _sid(person), actor=actor)
        session.commit()
        errors = {"receive": "Choose whether you want marketing e-mails."}
        return _page(request, "marketing", {"pref": pref, "errors": errors, "here": "marketing"},
                     status_code=422)  # fmt: skip
    service.choose_marketing(session, ctx, _sid(person), actor=actor, receive=receive == "yes")
    session.commit()
    return pages.redirect("/me/marketing?done=marketing")


@router.get("/me/devices", response_class=HTMLResponse)
def devices_page(
    request: Request, person: PersonDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    ctx = service.context(runtime)
    view = service.devices(session, ctx, _sid(person), actor=pages.actor_of(request, person))
    session.commit()
    return _page(request, "devices", {"view": view, "here": "devices"})


@router.get("/me/export", response_class=HTMLResponse)
def export_page(
    request: Request, person: PersonDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    rows = actions.my_requests(session, service.context(runtime), _sid(person))
    ready = [r for r in rows if r.download]
    return _page(request, "export", {"ready": ready, "here": "export"})


@router.post("/me/export", response_class=HTMLResponse)
def ask_export(
    request: Request, _csrf: CsrfDep, person: PersonDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    ctx = service.context(runtime)
    with ratelimit.attempt(runtime, (OPEN, str(_sid(person)))):
        actions.export(session, ctx, _sid(person), actor=pages.actor_of(request, person))
        session.commit()
    return pages.redirect("/me/export")


def _delete_page(
    request: Request, session: SessionDep, runtime: RuntimeDep, person: SignedIn,
    errors: dict[str, str], status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    ctx = service.context(runtime)
    plan = actions.erasure_preview(session, ctx, _sid(person))
    link = actions.certificate_path(ctx, plan.open_request) if plan.open_request else None
    return _page(
        request, "delete",
        {"plan": plan, "errors": errors, "certificate": link, "here": "delete",
         "completion_mail_days": (
             mails.completion_mail_days() if mails.completion_mail_offered(runtime.policy) else None
         )},
        status_code=status_code,
    )  # fmt: skip


@router.get("/me/delete", response_class=HTMLResponse)
def delete_page(
    request: Request, person: PersonDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    return _delete_page(request, session, runtime, person, {})


@router.post("/me/delete", response_class=HTMLResponse)
def ask_erasure(
    request: Request, _csrf: CsrfDep, person: PersonDep, session: SessionDep,
    runtime: RuntimeDep, confirm: Field = None,
) -> Response:  # fmt: skip
    if confirm != "yes":
        errors = {"confirm": "Tick the box to confirm that you want your data deleted."}
        return _delete_page(request, session, runtime, person, errors, status_code=422)
    ctx = service.context(runtime)
    with ratelimit.attempt(runtime, (OPEN, str(_sid(person)))):
        try:
            actions.ask_erasure(session, ctx, _sid(person), actor=pages.actor_of(request, person))
        except ErasureAlreadyOpen:
            session.rollback()
            return pages.redirect("/me/delete")
        session.commit()
    return pages.redirect("/me/delete?done=erasure")


@router.get("/me/restrict", response_class=HTMLResponse)
def restrict_page(
    request: Request, person: PersonDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    state = actions.restriction_view(session, service.context(runtime), _sid(person))
    return _page(request, "restrict", {"state": state, "here": "restrict"})


@router.post("/me/restrict", response_class=HTMLResponse)
def ask_restriction(
    request: Request, _csrf: CsrfDep, person: PersonDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    ctx = service.context(runtime)
    with ratelimit.attempt(runtime, (OPEN, str(_sid(person)))):
        try:
            actions.ask_restriction(
                session, ctx, _sid(person), actor=pages.actor_of(request, person)
            )
        except RestrictionInForce:
            session.rollback()
            return pages.redirect("/me/restrict")
        session.commit()
    return pages.redirect("/me/restrict?done=restriction")


@router.get("/me/requests", response_class=HTMLResponse)
def requests_page(
    request: Request, person: PersonDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    rows = actions.my_requests(session, service.context(runtime), _sid(person))
    return _page(request, "requests", {"rows": rows, "here": "requests"})


@router.get("/me/requests/{request_id}/certificate", response_class=HTMLResponse)
def certificate_page(
    request: Request, request_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep,
    link: str | None = None,
) -> HTMLResponse:  # fmt: skip
    """With ``link`` (the signed link the person kept) no sign-in is needed: after the
    erasure there is no account left to sign in to. Without it, only the owner's own."""
    ctx = service.context(runtime)
    if link:
        found = actions.by_link(session, ctx, request_id, link[:200])
    else:
        person = pages.current_person(request, session, runtime)
        found = actions.own_request(session, _sid(person), request_id)
    policy = ctx.requests.policy
    labels = {c.id: c.label for c in policy.categories}
    recipients = {r.id: r.name for r in policy.recipients}
    return _page(
        request, "certificate",
        {"found": found, "cert": found.certificate, "labels": labels, "recipients": recipients,
         "anonymous": bool(link),
         "status": rules.STATUS_WORDS.get(found.status, found.status), "here": "requests"},
    )  # fmt: skip


@router.get("/me/policy", response_class=HTMLResponse)
def policy_page(
    request: Request, person: PersonDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    standing = service.policy_standing(session, service.context(runtime), _sid(person))
    return _page(request, "policy", {"standing": standing, "here": "policy"})


@router.post("/me/policy", response_class=HTMLResponse)
def accept_policy(
    request: Request, _csrf: CsrfDep, person: PersonDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    ctx = service.context(runtime)
    service.accept_policy(session, ctx, _sid(person), actor=pages.actor_of(request, person))
    session.commit()
    return pages.redirect("/me/policy?done=policy")


def _objections_page(
    request: Request, session: SessionDep, runtime: RuntimeDep, person: SignedIn,
    errors: dict[str, str], status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    choices = service.objections(session, service.context(runtime), _sid(person))
    return _page(
        request, "objections", {"choices": choices, "errors": errors, "here": "objections"},
        status_code=status_code,
    )  # fmt: skip


@router.get("/me/objections", response_class=HTMLResponse)
def objections_page(
    request: Request, person: PersonDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    return _objections_page(request, session, runtime, person, {})


@router.post("/me/objections", response_class=HTMLResponse)
def object_or_withdraw(
    request: Request, _csrf: CsrfDep, person: PersonDep, session: SessionDep,
    runtime: RuntimeDep, purpose: Field = None, action: Field = None,
) -> Response:  # fmt: skip
    """``action`` ``object`` opens an objection request (answered at once), ``withdraw``
    ends the objection in force; a purpose not offered here is shown as a form error."""
    ctx = service.context(runtime)
    if purpose not in service.objectable(ctx) or action not in {"object", "withdraw"}:
        errors = {"purpose": "Choose one of the uses listed on this page."}
        return _objections_page(request, session, runtime, person, errors, status_code=422)
    assert purpose is not None
    actor = pages.actor_of(request, person)
    if action == "object":  # a request: counted like every request opened here
        with ratelimit.attempt(runtime, (OPEN, str(_sid(person)))):
            actions.object_to(session, ctx, _sid(person), actor=actor, purpose=purpose)
            session.commit()
    else:  # not a request: ending one's own objection is never limited
        try:
            actions.withdraw_objection(session, ctx, _sid(person), actor=actor, purpose=purpose)
        except ObjectionNotFound:  # withdrawn meanwhile (another tab): nothing to do
            session.rollback()
            return pages.redirect("/me/objections")
        session.commit()
    return pages.redirect(
        f"/me/objections?done={'objected' if action == 'object' else 'withdrawn'}"
    )
