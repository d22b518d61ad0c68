"""Reminder e-mails about deadlines (decision 0040), through a real SMTP server on loopback
and the fake clock: the assignee is e-mailed N days before the deadline, the privacy
officers once it is overdue, each once per deadline; an extended deadline is reminded
afresh; the e-mails name the request, never the person."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from safehold.access.models import AuditEntry
from safehold.access.rules import Actor
from safehold.clock import FrozenClock
from safehold.config import Settings
from safehold.db import transaction
from safehold.requests import ownership, reminders
from safehold.requests.extension import extend
from safehold.runtime import Runtime
from safehold.staff import service as staff
from safehold.staff.models import StaffMember
from safehold.staff.rules import Role
from safehold.worker import registered_jobs
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings
from tests.integration.requests.support import STAFF, ctx, load, open_request, person

AGENT, OFFICER, OWNER = (
    "sam.agent@example.com",
    "olive.officer@example.com",
    "oona.owner@example.org",
)


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    return comms_settings(tmp_path, smtp, request_reminder_days=3)


def invite(runtime: Runtime, address: str, role: Role, name: str) -> uuid.UUID:
    with transaction(runtime.sessions) as session:
        return staff.invite(
            session, staff.context(runtime), address, name=name, role=role,
            actor=Actor("admin", "test"),
        ).id  # fmt: skip


def bodies(smtp: SmtpServer, address: str, word: str) -> list[str]:
    found = []
    for message in smtp.inbox.to(address):
        if word in str(message["Subject"]):
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            found.append(body.get_content())
    return found


def test_the_assignee_then_the_officers_are_reminded_once_per_deadline(
    runtime: Runtime, clock: FrozenClock, smtp: SmtpServer
) -> None:
    agent = invite(runtime, AGENT, Role.SUPPORT_AGENT, "Sam Agent")
    invite(runtime, OFFICER, Role.PRIVACY_OFFICER, "Olive Officer")
    invite(runtime, OWNER, Role.OWNER, "Oona Owner")
    sid = person(runtime, "Ada")
    rid = open_request(runtime, sid, "access")
    unowned = open_request(runtime, person(runtime, "Bea"), "access")
    with transaction(runtime.sessions) as session:
        ownership.assign(session, ctx(runtime), rid, actor=STAFF, member_id=agent)
    deadline = load(runtime, rid).deadline_at

    clock.set(deadline - timedelta(days=3, seconds=1))
    assert reminders.run(runtime) == 0  # not yet
    clock.set(deadline - timedelta(days=3))
    assert reminders.run(runtime) == 1  # the unassigned one is owed nothing before its deadline
    smtp.inbox.wait_for(4)  # three invitations and the reminder
    [text] = bodies(smtp, AGENT, "is due on")
    assert f"The access request {str(rid)[:8]}, assigned to you, is due on" in text
    assert f"/admin/requests/{rid}" in text
    assert "Ada" not in text
    assert "ada@example.com" not in text
    assert reminders.run(runtime) == 0  # once
    assert bodies(smtp, OFFICER, "is due on") == []

    clock.set(deadline + timedelta(seconds=1))
    assert reminders.run(runtime) == 2  # both requests are overdue now
    smtp.inbox.wait_for(6)
    late = bodies(smtp, OFFICER, "is overdue")
    assert len(late) == 2
    assert any(str(unowned)[:8] in t for t in late)
    assert bodies(smtp, OWNER, "is overdue") == []  # there is a privacy officer
    assert bodies(smtp, AGENT, "is overdue") == []
    assert reminders.run(runtime) == 0
    with runtime.sessions() as session:
        audited = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.startswith("request.reminder."))
        ).all()
    assert sorted(audited) == ["request.reminder.due_soon", *["request.reminder.overdue"] * 2]


def test_an_extended_deadline_is_reminded_afresh(
    runtime: Runtime, clock: FrozenClock, smtp: SmtpServer
) -> None:
    officer = invite(runtime, OFFICER, Role.PRIVACY_OFFICER, "Olive Officer")
    rid = open_request(runtime, person(runtime), "access")
    with transaction(runtime.sessions) as session:
        ownership.assign(session, ctx(runtime), rid, actor=STAFF, member_id=officer)
    first = load(runtime, rid).deadline_at
    clock.set(first - timedelta(days=1))
    assert reminders.run(runtime) == 1
    with transaction(runtime.sessions) as session:
        extend(session, ctx(runtime), rid, actor=STAFF, reason="complexity", extension="P1M")
    assert reminders.run(runtime) == 0  # the new deadline is a month away
    clock.set(load(runtime, rid).deadline_at - timedelta(days=2))
    assert reminders.run(runtime) == 1
    smtp.inbox.wait_for(3)
    assert len(bodies(smtp, OFFICER, "is due on")) == 2


def test_no_one_to_tell_is_recorded_not_retried_and_the_owners_stand_in(
    runtime: Runtime, clock: FrozenClock, smtp: SmtpServer
) -> None:
    owner = invite(runtime, OWNER, Role.OWNER, "Oona Owner")
    rid = open_request(runtime, person(runtime), "access")
    with transaction(runtime.sessions) as session:
        ownership.assign(session, ctx(runtime), rid, actor=STAFF, member_id=owner)
        row = session.get(StaffMember, owner)
        assert row is not None
        row.email_sealed = None  # joined before addresses were kept, not signed in since
        row.joined_at, row.invite_expires_at = clock.now(), None
    clock.set(load(runtime, rid).deadline_at - timedelta(hours=1))
    assert reminders.run(runtime) == 1  # recorded with no one e-mailed
    assert reminders.run(runtime) == 0
    with transaction(runtime.sessions) as session:  # they sign in: the typed address is kept
        staff.request_code(session, staff.context(runtime), OWNER)
    clock.advance(timedelta(hours=2))
    assert reminders.run(runtime) == 1  # overdue; no privacy officer: the owner is told
    smtp.inbox.wait_for(3)  # the invitation, the sign-in code, the overdue reminder
    assert len(bodies(smtp, OWNER, "is overdue")) == 1
    assert bodies(smtp, OWNER, "is due on") == []


def test_the_worker_runs_the_reminders() -> None:
    assert "requests.reminders" in [job.name for job in registered_jobs()]
