"""Console pages over records: the audit log with its chain's verification, and messages
with the outbox (a person's page is in :mod:`safehold.console.people_pages`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from safehold.access import audit
from safehold.comms import service as comms
from safehold.console import common, rules, service
from safehold.deps import RuntimeDep, SessionDep
from safehold.staff import service as staff
from safehold.web import pages
from safehold.web.pages import CsrfDep, StaffDep

router = APIRouter(include_in_schema=False)


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_log(
    request: Request, signed_in: StaffDep, session: SessionDep,
    before: Annotated[int | None, Query(ge=0, le=audit.MAX_SEQ)] = None,
    action: str | None = None, subject: str | None = None, member: str | None = None,
) -> HTMLResponse:  # fmt: skip
    common.guard(signed_in, "audit:read")
    errors: dict[str, str] = {}
    subject_id = None
    if subject:
        try:
            subject_id = uuid.UUID(subject.strip())
        except ValueError:
            errors["subject"] = "A person's id looks like 3f2b…-…: 32 hexadecimal digits."
    members = {f"staff:{m.id}": m for m in staff.members(session)}
    actor = f"staff:{member.strip()}" if member and member.strip() else None
    if actor is not None and actor not in members:
        errors["member"] = "Choose a staff member from the list."
        actor = None
    action = (action or "").strip()[: rules.MAX_FILTER] or None
    view = service.audit_page(
        session, before=before, action=action, subject_id=subject_id, actor=actor
    )
    return common.page(
        request, signed_in, "console/audit.html",
        {"view": view, "action": action, "subject": subject or "", "errors": errors,
         "members": members, "member": member or ""},
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
