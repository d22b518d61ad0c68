"""What a request's page and the queue show of who owns a request (decision 0040): the
assignee, the members it may be given to, the internal notes (their read audited), and
whether the signed-in grant may carry out an erasure (``requests:execute``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from safehold.access.rules import holds
from safehold.console import common
from safehold.requests import ownership
from safehold.requests.models import DataRequest
from safehold.requests.rules import OPEN, Status
from safehold.runtime import Runtime
from safehold.staff.models import StaffMember
from safehold.web import pages
from safehold.web.sessions import SignedIn

EXECUTE = "requests:execute"


def names(session: Session, member_ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    """The names of the members ``member_ids`` (None skipped), for the queue's owner column."""
    wanted = [m for m in set(member_ids) if m is not None]
    if not wanted:
        return {}
    return {
        m.id: m.name for m in session.scalars(select(StaffMember).where(StaffMember.id.in_(wanted)))
    }


def page_context(
    request: Request, signed_in: SignedIn, session: Session, runtime: Runtime,
    found: DataRequest,
) -> dict[str, Any]:  # fmt: skip
    principal = common.key_of(signed_in)
    ctx, actor = common.requests_context(runtime), pages.actor_of(request, signed_in)
    return {
        "notes": ownership.notes(session, ctx, found, actor=actor),
        "note_max": ownership.NOTE_MAX,
        "owners": ownership.assignable(session),
        "assignee_name": ownership.member_name(session, found.assignee_id),
        "me": signed_in.member.id if signed_in.member is not None else None,
        "may_execute": holds(principal.scopes, EXECUTE),
        "may_assign": Status(found.status) in OPEN,
    }
