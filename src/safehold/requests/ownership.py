"""Requests owned by someone (decision 0040): assigning a request to a staff member (and
reassigning it), and the internal notes staff write on a request.

A request may be assigned to an active member whose role may act on requests
(``requests:open``). Notes are never shown to the person, never in an export or a
certificate: only the console and ``/v1/requests/{id}/notes`` read them. A note's text is
sealed under the person's data key, so an erasure makes it unreadable with the rest of
their data; the row itself goes with the request log (``retention.request_log``). Every
assignment, note written and notes read is audited in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from safehold.access.rules import Actor, holds
from safehold.requests import rules
from safehold.requests.errors import AssigneeInvalid, NoteInvalid, NoteRefused, TransitionRefused
from safehold.requests.models import DataRequest, RequestNote, RequestReminder
from safehold.requests.service import Context, get, record
from safehold.staff import rules as staff_rules
from safehold.staff.models import StaffMember
from safehold.subjects.models import Subject
from safehold.subjects.rules import EMAIL
from safehold.vault.errors import DataKeyDestroyed

ACT_SCOPE = "requests:open"  # what an assignee's role must hold
NOTE_MAX = 2000  # characters of one note
NOTE_CATEGORY = "request.note"  # the vault binding of a note's ciphertext (not a policy category)


def may_own(member: StaffMember) -> bool:
    """An active member whose role may act on requests."""
    return member.removed_at is None and holds(staff_rules.grant(member.role).scopes, ACT_SCOPE)


def assignable(session: Session) -> list[StaffMember]:
    """The members a request may be assigned to, by name."""
    rows = session.scalars(select(StaffMember).where(StaffMember.removed_at.is_(None)))
    return sorted((m for m in rows if may_own(m)), key=lambda m: (m.name.casefold(), m.id))


def assign(
    session: Session, ctx: Context, request_id: uuid.UUID, *, actor: Actor,
    member_id: uuid.UUID | None,
) -> DataRequest:  # fmt: skip
    """Give an open request to ``member_id`` (None: to nobody). Audited as
    ``request.assign``, ``request.reassign`` or ``request.unassign``."""
    request = get(session, request_id, lock=True)
    if rules.Status(request.status) not in rules.OPEN:
        raise TransitionRefused(
            "an answered request is not assigned any more",
            details={"status": request.status},
        )
    if member_id is not None:
        member = session.get(StaffMember, member_id)
        if member is None or not may_own(member):
            raise AssigneeInvalid(
                "no active staff member with that id whose role may act on requests",
                details={"field": "member_id"},
            )
    if request.assignee_id == member_id:
        return request
    action = (
        "request.unassign" if member_id is None
        else "request.reassign" if request.assignee_id is not None
        else "request.assign"
    )  # fmt: skip
    request.assignee_id = member_id
    request.assigned_at = ctx.clock.now() if member_id is not None else None
    session.flush()
    record(session, ctx, actor, action, request)
    return request


@dataclass(frozen=True)
class NoteView:
    id: uuid.UUID
    author: str  # an audit actor ("staff:<id>", "api_key:<id>")
    author_name: str | None  # the member's name, when a member wrote it
    created_at: datetime
    text: str | None  # None: erased with the person's data


def _klass(ctx: Context) -> str:
    return ctx.policy.retention_class(EMAIL, "email")  # the account's key: an erasure's first


def _field(note_id: uuid.UUID) -> str:
    return f"note#{note_id}"


def clean_note(text: str | None) -> str:
    """The note as written (trimmed), or :class:`NoteInvalid` when empty or too long."""
    note = (text or "").strip()
    if not note:
        raise NoteInvalid("write the note first", details={"field": "text"})
    if len(note) > NOTE_MAX:
        raise NoteInvalid(f"a note holds at most {NOTE_MAX} characters", details={"field": "text"})
    return note


def add_note(
    session: Session, ctx: Context, request_id: uuid.UUID, *, actor: Actor, text: str | None
) -> RequestNote:
    note = clean_note(text)
    request = get(session, request_id)
    subject = session.get(Subject, request.subject_id)
    if subject is None or subject.status == "erased":
        raise NoteRefused("the person is erased: nothing more is written about them", details={})
    row_id = uuid.uuid4()
    sealed = ctx.vault.encrypt(
        session, request.subject_id, _klass(ctx), NOTE_CATEGORY, _field(row_id), note
    )
    row = RequestNote(
        subject_id=request.subject_id, request_id=request.id, id=row_id, author=str(actor),
        created_at=ctx.clock.now(), sealed=sealed,
    )  # fmt: skip
    session.add(row)
    session.flush()
    record(session, ctx, actor, "request.note.add", request)
    return row


def notes(session: Session, ctx: Context, request: DataRequest, *, actor: Actor) -> list[NoteView]:
    """The request's notes, oldest first; reading any is audited (``request.note.read``)."""
    rows = list(
        session.scalars(
            select(RequestNote)
            .where(RequestNote.subject_id == request.subject_id,
                   RequestNote.request_id == request.id)
            .order_by(RequestNote.created_at, RequestNote.id)
        )
    )  # fmt: skip
    if not rows:
        return []
    record(session, ctx, actor, "request.note.read", request)
    names = _member_names(session, {r.author for r in rows})
    out = []
    for row in rows:
        try:
            text: str | None = ctx.vault.decrypt(
                session, row.subject_id, _klass(ctx), NOTE_CATEGORY, _field(row.id), row.sealed
            )
        except DataKeyDestroyed:
            text = None
        out.append(NoteView(row.id, row.author, names.get(row.author), row.created_at, text))
    return out


def _member_names(session: Session, authors: set[str]) -> dict[str, str]:
    ids = []
    for author in authors:
        kind, _, ident = author.partition(":")
        if kind == "staff":
            try:
                ids.append(uuid.UUID(ident))
            except ValueError:
                continue
    if not ids:
        return {}
    found = session.scalars(select(StaffMember).where(StaffMember.id.in_(ids)))
    return {f"staff:{m.id}": m.name for m in found}


def member_name(session: Session, member_id: uuid.UUID | None) -> str | None:
    member = session.get(StaffMember, member_id) if member_id else None
    return member.name if member else None


def forget(session: Session, requests: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
    """Delete the notes and reminder rows of the (subject_id, request_id) pairs: the request
    log's sweep calls it in the batch that deletes the requests themselves."""
    if not requests:
        return
    for table in (RequestNote, RequestReminder):
        pair = tuple_(table.subject_id, table.request_id)
        session.execute(delete(table).where(pair.in_(list(requests))))
