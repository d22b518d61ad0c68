"""Console pages for one person: the look-up by e-mail address or phone number for a chosen
purpose, the person's page (their data, requests, marketing choice, devices, holds), and
the actions taken for them — a request opened on their behalf, a legal hold placed.

The address or number of a look-up is posted, never put in a URL: the answer is rendered
from the post itself (the field keeps what was typed), so it appears in no link, history
entry or log line. After an action the page is reached by the person's opaque id and the
purpose, which carry no personal data.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from safehold import ratelimit
from safehold.console import common, person, rules
from safehold.console.common import Field
from safehold.deps import RuntimeDep, SessionDep
from safehold.errors import InvalidInput, SafeholdError
from safehold.policy import capabilities
from safehold.requests import service as requests
from safehold.retention import rules as retention_rules
from safehold.retention import service as retention
from safehold.runtime import Runtime
from safehold.subjects import rules as subject_rules
from safehold.subjects import service as subjects
from safehold.subjects.errors import SubjectNotFound
from safehold.web import pages
from safehold.web.pages import CsrfDep, StaffDep
from safehold.web.sessions import SignedIn

router = APIRouter(include_in_schema=False)
SCOPE = "subjects:read"
NOT_FOUND = {
    "email": "No person has that e-mail address.",
    "phone": "No person has that phone number.",
}
CHOOSE_PURPOSE = "Choose why you are looking this person up."
ASK_CONTACT = (
    "Enter the person's e-mail address (like name@example.com) or phone number in "
    "international form (like +44 20 7946 0958)."
)


def _form(runtime: Runtime, key: common.Principal) -> dict[str, Any]:
    """What the page's forms offer this key: purposes to read for, request kinds, channels,
    purposes one may object to, and the policy's categories for a hold."""
    policy = runtime.policy
    return {
        "purposes": rules.usable_purposes(policy.purpose_ids, key.purposes),
        "kinds": sorted(str(k) for k in capabilities.offered_kinds(policy)),
        "channels": rules.STAFF_CHANNELS,
        "objectable": [p.id for p in policy.purposes if p.objectable or p.is_marketing],
        "categories": policy.category_ids,
    }


def _render(
    request: Request, signed_in: SignedIn, runtime: Runtime, *, status_code: int = 200,
    **values: Any,
) -> HTMLResponse:  # fmt: skip
    key = common.key_of(signed_in)
    context = {**_form(runtime, key), "chosen": None, "contact": "", "found": None,
               "matches": [], "refusal": None, "errors": {}, "form": {}, "notice": None,
               "most": subjects.LOOKUP_MAX, **values}  # fmt: skip
    return common.page(request, signed_in, "console/people.html", context, status_code=status_code)


@router.get("/admin/people", response_class=HTMLResponse)
def people(request: Request, signed_in: StaffDep, runtime: RuntimeDep) -> HTMLResponse:
    common.guard(signed_in, SCOPE)
    return _render(request, signed_in, runtime)


def _contact(text: str) -> tuple[str | None, str | None, str | None]:
    """(e-mail, phone, problem): the typed text read as an address or a number."""
    if not text:
        return None, None, ASK_CONTACT
    kind = rules.lookup_kind(text)
    try:
        if kind == "email":
            parsed = subject_rules.contact(email=text)
        else:
            parsed = subject_rules.contact(phone=text)
    except InvalidInput as exc:
        return None, None, common.message(exc)
    except ValueError:
        return None, None, ASK_CONTACT
    return parsed.email, parsed.phone, None


@router.post("/admin/people", response_class=HTMLResponse)
def look_up(
    request: Request, _csrf: CsrfDep, signed_in: StaffDep, session: SessionDep,
    runtime: RuntimeDep, contact: Field = None, purpose: Field = None,
) -> Response:  # fmt: skip
    key = common.guard(signed_in, SCOPE)
    typed = (contact or "").strip()[: rules.MAX_CONTACT]
    kept: dict[str, Any] = {"chosen": purpose, "contact": typed}
    errors: dict[str, str] = {}
    if purpose not in rules.usable_purposes(runtime.policy.purpose_ids, key.purposes):
        errors["purpose"] = CHOOSE_PURPOSE
    email, phone, problem = _contact(typed)
    if problem is not None:
        errors["contact"] = problem
    if errors or purpose is None:
        return _render(request, signed_in, runtime, errors=errors, status_code=422, **kept)
    common.require_purpose(key, purpose, declared=runtime.policy.purpose_ids)
    actor = pages.actor_of(request, signed_in)
    try:
        found = person.find(session, runtime, actor=actor, purpose=purpose, email=email,
                            phone=phone)  # fmt: skip
        if len(found) > 1:  # a shared number: staff choose whom they mean, nobody is read yet
            session.commit()
            return _render(request, signed_in, runtime, matches=found, **kept)
        shown = person.view(session, runtime, key, found[0].id, purpose=purpose, actor=actor)
    except SubjectNotFound as exc:
        if exc.keeps_writes:  # the look-up's audit entry (nobody, or nobody this purpose may know)
            session.commit()
        kind = "email" if email is not None else "phone"
        return _render(request, signed_in, runtime, errors={"contact": NOT_FOUND[kind]},
                       status_code=404, **kept)  # fmt: skip
    except SafeholdError as exc:
        if exc.keeps_writes:  # the refused read's audit entry
            session.commit()
        return _render(request, signed_in, runtime, refusal=common.message(exc),
                       status_code=common.status_of(exc), **kept)  # fmt: skip
    session.commit()
    return _render(request, signed_in, runtime, found=shown, **kept)


def _person(
    request: Request, signed_in: SignedIn, session: SessionDep, runtime: Runtime,
    subject_id: uuid.UUID, purpose: str | None, *, status_code: int = 200, **values: Any,
) -> HTMLResponse:  # fmt: skip
    """The person's page by id, read for ``purpose`` (as ``GET /v1/subjects/{id}`` reads)."""
    key = common.guard(signed_in, SCOPE)
    if purpose is None or purpose not in runtime.policy.purpose_ids:
        return _render(request, signed_in, runtime, status_code=422,
                       errors={"purpose": CHOOSE_PURPOSE})  # fmt: skip
    common.require_purpose(key, purpose, declared=runtime.policy.purpose_ids)
    actor = pages.actor_of(request, signed_in)
    try:
        shown = person.view(session, runtime, key, subject_id, purpose=purpose, actor=actor)
    except SafeholdError as exc:
        if exc.keeps_writes:
            session.commit()
        else:
            session.rollback()
        return _render(request, signed_in, runtime, chosen=purpose, refusal=common.message(exc),
                       status_code=common.status_of(exc))  # fmt: skip
    session.commit()
    return _render(request, signed_in, runtime, chosen=purpose, found=shown,
                   status_code=status_code, **values)  # fmt: skip


@router.get("/admin/people/{subject_id}", response_class=HTMLResponse)
def person_page(
    request: Request, subject_id: uuid.UUID, signed_in: StaffDep, session: SessionDep,
    runtime: RuntimeDep, purpose: str | None = None,
) -> HTMLResponse:  # fmt: skip
    notice = rules.NOTICES.get(request.query_params.get("done", ""))
    return _person(request, signed_in, session, runtime, subject_id, purpose, notice=notice)


@router.post("/admin/people/{subject_id}/requests")
def open_request(
    request: Request, subject_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep, purpose: Field = None, kind: Field = None,
    channel: Field = None, objected: Field = None,
) -> Response:  # fmt: skip
    """Open a request for the person, as ``POST /v1/requests`` does (scope, rate limits,
    audit, the code e-mailed to the person), recorded as made by staff."""
    key = common.guard(signed_in, person.REQUESTS_SCOPE)
    form = {"kind": kind, "channel": channel, "objected": objected}
    errors: dict[str, str] = {}
    if kind not in _form(runtime, key)["kinds"]:
        errors["kind"] = "Choose what the person asks for."
    if channel not in rules.STAFF_CHANNELS:
        errors["channel"] = "Choose how the person asked."
    if kind == "objection" and not objected:
        errors["objected"] = "Choose the use the person objects to."

    def again(errors: dict[str, str], status_code: int) -> HTMLResponse:
        """The person's page again, the refusal next to its field, the form as it was sent."""
        return _person(request, signed_in, session, runtime, subject_id, purpose,
                       status_code=status_code, errors=errors, form=form)  # fmt: skip

    if errors or kind is None or channel is None:
        return again(errors, 422)
    actor = pages.actor_of(request, signed_in)
    ctx = common.requests_context(runtime)
    counted = (("requests.open.key", actor.id), ("requests.open.subject", str(subject_id)))
    try:
        with ratelimit.attempt(runtime, *counted):
            opened = requests.create(
                session, ctx, actor=actor, subject_id=subject_id, kind=kind, channel=channel,
                purpose=objected if kind == "objection" else None,
            )  # fmt: skip
    except SafeholdError as exc:
        session.rollback()
        field = "objected" if exc.details.get("field") == "purpose" else "kind"
        return again({field: common.message(exc)}, common.status_of(exc))
    session.commit()
    return pages.redirect(f"/admin/requests/{opened.id}?done=opened")


@router.post("/admin/people/{subject_id}/holds")
def place_hold(
    request: Request, subject_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep, purpose: Field = None,
    categories: Annotated[list[str] | None, Form()] = None, reason: Field = None,
    legal_basis: Field = None, until: Field = None,
) -> Response:  # fmt: skip
    """Place a legal hold on the person's data, as ``POST /v1/holds`` does (scope, audit)."""
    common.guard(signed_in, person.HOLDS_SCOPE)
    wanted = [c for c in categories or [] if c in runtime.policy.category_ids]
    form = {"categories": wanted, "reason": reason or "", "legal_basis": legal_basis or "",
            "until": until or ""}  # fmt: skip
    errors: dict[str, str] = {}
    if not wanted:
        errors["categories"] = "Tick at least one kind of data to keep."
    if not (reason or "").strip():
        errors["reason"] = "Say why the data must be kept (the case or the obligation)."
    elif len(reason or "") > retention_rules.MAX_TEXT:
        errors["reason"] = f"Keep it under {retention_rules.MAX_TEXT:,} characters."
    if not (legal_basis or "").strip():
        errors["legal_basis"] = "Name the legal basis for keeping it."
    elif len(legal_basis or "") > retention_rules.MAX_TEXT:
        errors["legal_basis"] = f"Keep it under {retention_rules.MAX_TEXT:,} characters."
    day = None
    try:
        day = date.fromisoformat((until or "").strip())
    except ValueError:
        errors["until"] = "Choose the last day the data must be kept."

    def again(errors: dict[str, str], status_code: int) -> HTMLResponse:
        return _person(request, signed_in, session, runtime, subject_id, purpose,
                       status_code=status_code, errors=errors, form=form)  # fmt: skip

    if errors or day is None:
        return again(errors, 422)
    try:
        retention.place(
            session, policy=runtime.policy, clock=runtime.clock,
            actor=pages.actor_of(request, signed_in), subject_id=subject_id, categories=wanted,
            reason=reason or "", legal_basis=legal_basis or "", until=rules.hold_until(day),
        )  # fmt: skip
    except SafeholdError as exc:
        session.rollback()
        field = "until" if exc.details.get("field") == "until" else "categories"
        return again({field: common.message(exc)}, common.status_of(exc))
    session.commit()
    target = f"/admin/people/{subject_id}?done=hold_placed"
    if purpose in runtime.policy.purpose_ids:
        target += f"&purpose={purpose}"
    return pages.redirect(target)
