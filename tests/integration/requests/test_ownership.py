"""Requests owned by someone (decision 0040): assignment and reassignment to members whose
role may act on requests, audited; internal notes sealed under the person's key, read with
an audit entry, unreadable once the person is erased, never in an export, and deleted with
the request log."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from safehold.access.models import AuditEntry
from safehold.access.rules import Actor
from safehold.clock import FrozenClock
from safehold.db import transaction
from safehold.policy.durations import add_duration
from safehold.requests import export, jobs, ownership, service
from safehold.requests import rules as request_rules
from safehold.requests.errors import (
    AssigneeInvalid,
    NoteInvalid,
    NoteRefused,
    TransitionRefused,
)
from safehold.requests.models import RequestNote, RequestReminder
from safehold.retention import jobs as retention_jobs
from safehold.runtime import Runtime
from safehold.staff.models import StaffMember
from safehold.staff.rules import Role
from tests.integration.requests.support import STAFF, ctx, load, open_request, person, verified

NOTE = "Called back on the desk line; she will read the code out tomorrow."


def member(runtime: Runtime, role: Role, name: str, *, removed: bool = False) -> uuid.UUID:
    """A staff member row (no invitation e-mail: these tests need no mailer)."""
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        row = StaffMember(
            id=uuid.uuid4(), email_index=uuid.uuid4().hex, name=name, role=str(role),
            invited_by="admin:test", created_at=now, joined_at=now,
            removed_at=now if removed else None,
        )  # fmt: skip
        session.add(row)
        return row.id


def actions(runtime: Runtime, prefix: str) -> list[str]:
    with runtime.sessions() as session:
        query = select(AuditEntry.action).where(AuditEntry.action.startswith(prefix))
        return list(session.scalars(query.order_by(AuditEntry.seq)))


def test_assign_reassign_unassign_are_audited(runtime: Runtime) -> None:
    sid = person(runtime)
    rid = open_request(runtime, sid, "access")
    officer = member(runtime, Role.PRIVACY_OFFICER, "Olive Officer")
    agent = member(runtime, Role.SUPPORT_AGENT, "Sam Agent")
    for who in (officer, agent, None):
        with transaction(runtime.sessions) as session:
            ownership.assign(session, ctx(runtime), rid, actor=STAFF, member_id=who)
        assert load(runtime, rid).assignee_id == who
    assert load(runtime, rid).assigned_at is None
    assert actions(runtime, "request.") [-3:] == [
        "request.assign", "request.reassign", "request.unassign",
    ]  # fmt: skip
    with transaction(runtime.sessions) as session:  # the same owner again: nothing changes
        ownership.assign(session, ctx(runtime), rid, actor=STAFF, member_id=None)
    assert actions(runtime, "request.")[-1] == "request.unassign"


@pytest.mark.parametrize("case", ["unknown", "removed", "analyst", "auditor"])
def test_only_an_active_member_who_may_act_on_requests_is_assigned(
    runtime: Runtime, case: str
) -> None:
    sid = person(runtime)
    rid = open_request(runtime, sid, "access")
    target = {
        "unknown": lambda: uuid.uuid4(),
        "removed": lambda: member(runtime, Role.PRIVACY_OFFICER, "Rae Removed", removed=True),
        "analyst": lambda: member(runtime, Role.ANALYST, "Ana Analyst"),
        "auditor": lambda: member(runtime, Role.AUDITOR, "Aud Auditor"),
    }[case]()
    with runtime.sessions() as session, pytest.raises(AssigneeInvalid) as refused:
        ownership.assign(session, ctx(runtime), rid, actor=STAFF, member_id=target)
    assert refused.value.code == "request_assignee_invalid"
    assert str(target) not in refused.value.message
    assert load(runtime, rid).assignee_id is None


def test_an_answered_request_is_not_assigned(runtime: Runtime) -> None:
    sid = person(runtime)
    rid = open_request(runtime, sid, "access")
    officer = member(runtime, Role.PRIVACY_OFFICER, "Olive Officer")
    with transaction(runtime.sessions) as session:
        service.reject(session, ctx(runtime), rid, actor=STAFF, reason="withdrawn")
    with runtime.sessions() as session, pytest.raises(TransitionRefused):
        ownership.assign(session, ctx(runtime), rid, actor=STAFF, member_id=officer)


def test_notes_are_sealed_read_with_an_audit_entry_and_named_by_their_author(
    runtime: Runtime, clock: FrozenClock
) -> None:
    sid = person(runtime)
    rid = open_request(runtime, sid, "access")
    officer = member(runtime, Role.PRIVACY_OFFICER, "Olive Officer")
    with transaction(runtime.sessions) as session:
        ownership.add_note(session, ctx(runtime), rid, actor=Actor("staff", str(officer)),
                           text=f"  {NOTE}\nSecond line.  ")  # fmt: skip
        clock.advance(timedelta(minutes=5))
        ownership.add_note(session, ctx(runtime), rid, actor=STAFF, text="Key note.")
    with runtime.sessions() as session:
        sealed = session.scalars(select(RequestNote.sealed)).all()
    assert len(sealed) == 2
    assert all(NOTE.encode() not in blob and b"Key note" not in blob for blob in sealed)
    with transaction(runtime.sessions) as session:
        found = ownership.notes(session, ctx(runtime), service.get(session, rid), actor=STAFF)
    assert [n.text for n in found] == [f"{NOTE}\nSecond line.", "Key note."]
    assert [n.author_name for n in found] == ["Olive Officer", None]
    assert found[1].author == str(STAFF)
    assert actions(runtime, "request.note.") == [
        "request.note.add", "request.note.add", "request.note.read",
    ]  # fmt: skip


@pytest.mark.parametrize("text", [None, "", "   ", "x" * (ownership.NOTE_MAX + 1)])
def test_an_empty_or_overlong_note_is_refused(runtime: Runtime, text: str | None) -> None:
    sid = person(runtime)
    rid = open_request(runtime, sid, "access")
    with runtime.sessions() as session, pytest.raises(NoteInvalid) as refused:
        ownership.add_note(session, ctx(runtime), rid, actor=STAFF, text=text)
    assert refused.value.code == "request_note_invalid"


def test_an_erasure_makes_the_notes_unreadable_and_refuses_new_ones(runtime: Runtime) -> None:
    sid = person(runtime)
    rid = verified(runtime, sid, "erasure")
    with transaction(runtime.sessions) as session:
        ownership.add_note(session, ctx(runtime), rid, actor=STAFF, text=NOTE)
    jobs.erase(runtime.sessions, ctx(runtime), rid, actor=STAFF)
    with transaction(runtime.sessions) as session:
        found = ownership.notes(session, ctx(runtime), service.get(session, rid), actor=STAFF)
        assert [n.text for n in found] == [None]
        assert NOTE not in json.dumps(service.get(session, rid).certificate)
    with runtime.sessions() as session, pytest.raises(NoteRefused):
        ownership.add_note(session, ctx(runtime), rid, actor=STAFF, text="After the fact.")


def test_notes_are_never_in_the_persons_export(runtime: Runtime) -> None:
    sid = person(runtime)
    rid = open_request(runtime, sid, "access")
    with transaction(runtime.sessions) as session:
        ownership.add_note(session, ctx(runtime), rid, actor=STAFF, text=NOTE)
    body = b"".join(export.stream_json(runtime.sessions, ctx(runtime), sid)).decode()
    assert str(rid) in body  # the request itself is in the export …
    assert NOTE not in body
    assert "note" not in body.lower()
    with transaction(runtime.sessions) as session:
        page = export.render_html(session, ctx(runtime), sid)
    assert NOTE not in page


def test_notes_and_reminders_go_with_the_request_log(runtime: Runtime, clock: FrozenClock) -> None:
    sid = person(runtime)
    rid = open_request(runtime, sid, "access")
    with transaction(runtime.sessions) as session:
        ownership.add_note(session, ctx(runtime), rid, actor=STAFF, text=NOTE)
        request = service.get(session, rid)
        session.add(RequestReminder(
            subject_id=sid, request_id=rid, threshold="overdue",
            deadline_at=request.deadline_at, sent_at=clock.now(), recipients=0,
        ))  # fmt: skip
        service.reject(session, ctx(runtime), rid, actor=STAFF, reason="withdrawn")
    clock.set(add_duration(clock.now(), request_rules.REQUEST_LOG_RETENTION) - timedelta(days=1))
    retention_jobs.run(runtime)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(RequestNote)) == 1
    clock.advance(timedelta(days=2))
    retention_jobs.run(runtime)
    with runtime.sessions() as session:
        for table in (RequestNote, RequestReminder):
            assert session.scalar(select(func.count()).select_from(table)) == 0
