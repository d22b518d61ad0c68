"""Console forms for who owns a request and its internal notes (decision 0040): assign or
reassign a request (to oneself or another member whose role may act on requests), and
write a note. Both are CSRF-checked form posts needing ``requests:open``; a member id that
is not one offered (a tampered form) is refused next to the form, naming no value."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from safehold.console import common
from safehold.console.common import Field
from safehold.console.request_pages import SCOPE, detail_page
from safehold.deps import RuntimeDep, SessionDep
from safehold.errors import SafeholdError
from safehold.requests import ownership
from safehold.web import pages
from safehold.web.pages import CsrfDep, StaffDep

router = APIRouter(include_in_schema=False)
NOBODY = "nobody"  # the assignee choice that takes a request back from its owner


@router.post("/admin/requests/{request_id}/assignee")
def assign(
    request: Request, request_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep, member: Field = None,
) -> Response:  # fmt: skip
    common.guard(signed_in, SCOPE)
    chosen: uuid.UUID | None = None
    try:
        if member != NOBODY:
            chosen = uuid.UUID(member or "")
    except ValueError:
        ask = {"assignee": "Choose who answers this request."}
        return detail_page(request, signed_in, session, runtime, request_id, errors=ask,
                           status_code=422)  # fmt: skip
    ctx, actor = common.requests_context(runtime), pages.actor_of(request, signed_in)
    try:
        ownership.assign(session, ctx, request_id, actor=actor, member_id=chosen)
    except SafeholdError as exc:
        session.rollback()
        return detail_page(request, signed_in, session, runtime, request_id,
                           errors={"assignee": common.message(exc)},
                           status_code=common.status_of(exc))  # fmt: skip
    session.commit()
    return pages.redirect(f"/admin/requests/{request_id}?done=assigned")


@router.post("/admin/requests/{request_id}/notes")
def add_note(
    request: Request, request_id: uuid.UUID, _csrf: CsrfDep, signed_in: StaffDep,
    session: SessionDep, runtime: RuntimeDep, text: Field = None,
) -> Response:  # fmt: skip
    """The note's text is never put back in the page on a refusal."""
    common.guard(signed_in, SCOPE)
    ctx, actor = common.requests_context(runtime), pages.actor_of(request, signed_in)
    try:
        ownership.add_note(session, ctx, request_id, actor=actor, text=text)
    except SafeholdError as exc:
        session.rollback()
        return detail_page(request, signed_in, session, runtime, request_id,
                           errors={"note": common.message(exc)},
                           status_code=common.status_of(exc))  # fmt: skip
    session.commit()
    return pages.redirect(f"/admin/requests/{request_id}?done=noted")
