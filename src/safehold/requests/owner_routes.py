"""/v1/requests/{id}/assignee and /notes: who answers a request, and the internal notes
staff write on it (decision 0040). Both need ``requests:open``; notes are for staff only
(never in an export, a certificate or the privacy center)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from safehold.access.models import ApiKey
from safehold.deps import ActorDep, RuntimeDep, SessionDep, require_scope
from safehold.requests import ownership, service
from safehold.requests.routes import context, request_out
from safehold.requests.schemas import AssigneeIn, NoteIn, NoteOut, RequestOut

router = APIRouter(prefix="/v1/requests", tags=["data-subject requests"])
Opener = Annotated[ApiKey, Depends(require_scope("requests:open"))]


@router.put("/{request_id}/assignee", summary="Assign (or reassign) an open request")
def assign(
    request_id: uuid.UUID, body: AssigneeIn, session: SessionDep, runtime: RuntimeDep,
    _key: Opener, actor: ActorDep,
) -> RequestOut:  # fmt: skip
    request = ownership.assign(
        session, context(runtime), request_id, actor=actor, member_id=body.member_id
    )
    session.commit()
    return request_out(request, runtime)


def _out(note: ownership.NoteView) -> NoteOut:
    return NoteOut(
        id=note.id, author=note.author, author_name=note.author_name,
        created_at=note.created_at, text=note.text,
    )  # fmt: skip


@router.get("/{request_id}/notes", summary="The request's internal notes, oldest first")
def list_notes(
    request_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, _key: Opener,
    actor: ActorDep,
) -> list[NoteOut]:  # fmt: skip
    found = service.get(session, request_id)
    notes = ownership.notes(session, context(runtime), found, actor=actor)
    session.commit()  # the read's audit entry
    return [_out(n) for n in notes]


@router.post("/{request_id}/notes", status_code=201, summary="Add an internal note")
def add_note(
    request_id: uuid.UUID, body: NoteIn, session: SessionDep, runtime: RuntimeDep,
    _key: Opener, actor: ActorDep,
) -> NoteOut:  # fmt: skip
    row = ownership.add_note(session, context(runtime), request_id, actor=actor, text=body.text)
    session.commit()
    return NoteOut(
        id=row.id, author=row.author, author_name=None, created_at=row.created_at,
        text=ownership.clean_note(body.text),
    )  # fmt: skip
