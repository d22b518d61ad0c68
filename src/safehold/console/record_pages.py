"""Console pages over records: a person looked up by e-mail for a chosen purpose, the
audit log with its chain's verification, and messages with the outbox.

The e-mail address of a look-up is posted, never put in a URL; the answer is rendered from
the post itself, so the address appears in no link, history entry or log line.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from safehold.access import audit
from safehold.access import service as access
from safehold.comms import service as comms
from safehold.console import common, rules, service
from safehold.console.common import Field
from safehold.deps import RuntimeDep, SessionDep
from safehold.errors import InvalidInput, SafeholdError
from safehold.subjects import rules as subject_rules
from safehold.subjects.errors import SubjectNotFound
from safehold.web import pages
from safehold.web.pages import CsrfDep, StaffDep
from safehold.web.sessions import SignedIn

router = APIRouter(include_in_schema=False)


def _people(
    request: Request, signed_in: SignedIn, purposes: list[str], *, chosen: str | None = None,
    errors: dict[str, str] | None = None, found: service.LookedUp | None = None,
    refusal: str | None = None, status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    return common.page(
        request, signed_in, "console/people.html",
        {"purposes": purposes, "chosen": chosen, "errors": errors or {}, "found": found,
         "refusal": refusal},
        status_code=status_code,
    )  # fmt: skip


@router.get("/admin/people", response_class=HTMLResponse)
def people(request: Request, signed_in: StaffDep, runtime: RuntimeDep) -> HTMLResponse:
    key = common.guard(signed_in, "subjects:read")
    purposes = rules.usable_purposes(runtime.policy.purpose_ids, key.purposes)
    return _people(request, signed_in, purposes)


@router.post("/admin/people", response_class=HTMLResponse)
def look_up(
    request: Request, _csrf: CsrfDep, signed_in: StaffDep, session: SessionDep,
    runtime: RuntimeDep, email: Field = None, purpose: Field = None,
) -> Response:  # fmt: skip
    key = common.guard(signed_in, "subjects:read")
    purposes = rules.usable_purposes(runtime.policy.purpose_ids, key.purposes)
    errors: dict[str, str] = {}
    if purpose not in purposes:
        errors["purpose"] = "Choose why you are looking this person up."
    address = None
    with contextlib.suppress(InvalidInput, ValueError):  # a malformed address: said below
        address = subject_rules.contact(email=(email or "").strip() or None).email
    if address is None:
        errors["email"] = "Enter the person's e-mail address, like name@example.com."
    if errors or address is None or purpose is None:
        return _people(request, signed_in, purposes, chosen=purpose, errors=errors,
                       status_code=422)  # fmt: skip
    access.require_purpose(key, purpose, declared=runtime.policy.purpose_ids)
    actor = pages.actor_of(request, signed_in)
    ctx = common.subjects_context(runtime)
    try:
        found = service.look_up(session, ctx, actor=actor, purpose=purpose, email=address)
    except SubjectNotFound as exc:
        if exc.keeps_writes:  # the look-up's audit entry (nobody, or nobody this purpose may know)
            session.commit()
        return _people(request, signed_in, purposes, chosen=purpose, status_code=404,
                       errors={"email": "No person has that e-mail address."})  # fmt: skip
    except SafeholdError as exc:
        if exc.keeps_writes:  # the refused read's audit entry
            session.commit()
        return _people(request, signed_in, purposes, chosen=purpose,
                       refusal=common.message(exc), status_code=common.status_of(exc))  # fmt: skip
    session.commit()
    return _people(request, signed_in, purposes, chosen=purpose, found=found)


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_log(
    request: Request, signed_in: StaffDep, session: SessionDep,
    before: Annotated[int | None, Query(ge=0, le=audit.MAX_SEQ)] = None,
    action: str | None = None, subject: str | None = None,
) -> HTMLResponse:  # fmt: skip
    common.guard(signed_in, "audit:read")
    errors: dict[str, str] = {}
    subject_id = None
    if subject:
        try:
            subject_id = uuid.UUID(subject.strip())
        except ValueError:
            errors["subject"] = "A person's id looks like 3f2b…-…: 32 hexadecimal digits."
    action = (action or "").strip()[: rules.MAX_FILTER] or None
    view = service.audit_page(session, before=before, action=action, subject_id=subject_id)
    return common.page(
        request, signed_in, "console/audit.html",
        {"view": view, "action": action, "subject": subject or "", "errors": errors},
        status_code=422 if errors else 200,
    )  # fmt: skip


@router.get("/admin/messages", response_class=HTMLResponse)
def messages(request: Request, signed_in: StaffDep, session: SessionDep) -> HTMLResponse:
    common.guard(signed_in, "messages:admin")
    notice = rules.NOTICES.get(request.query_params.get("done", ""))
    return common.page(
        request,
        signed_in,
        "console/messages.html",
        {"view": service.messages_page(session), "notice": notice},
    )


@router.post("/admin/messages/{message_id}/requeue")
def requeue(
    message_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep, session: SessionDep,
    runtime: RuntimeDep,
) -> Response:  # fmt: skip
    common.guard(signed_in, "messages:admin")
    comms.requeue_failed(session, message_id, clock=runtime.clock)
    session.commit()
    return pages.redirect("/admin/messages?done=requeued")
