"""The console's staff pages over HTTP: an owner invites, changes roles, removes, ends
sessions and resets authenticators, each audited with the owner and their role; nobody else
reaches them, a tampered role or a form without its CSRF token changes nothing, and a member
removed or re-roled is signed out at once. The audit log filters by member."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from safehold.clock import FrozenClock
from safehold.config import Settings
from safehold.db import transaction
from safehold.runtime import Runtime
from safehold.staff.models import StaffMember
from safehold.staff.rules import Role
from safehold.web.models import WebSession
from tests.e2e import staff_support as s
from tests.e2e.conftest import audit_entries
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings

OWNER = "olive.owner@example.com"
AGENT = "sam.agent@example.com"
OFFICER = "priya.officer@example.com"


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    return comms_settings(tmp_path, smtp)


@pytest.fixture
def owner(client: TestClient, runtime: Runtime, smtp: SmtpServer) -> StaffMember:
    """Olive, an owner, signed in in ``client``."""
    member = s.invite(runtime, OWNER, Role.OWNER, "Olive Owner")
    s.join(client, runtime, smtp, OWNER)
    return member


def other_client(client: TestClient) -> TestClient:
    return TestClient(client.app, raise_server_exceptions=False)


def actions(runtime: Runtime, prefix: str) -> list[str]:
    return [e.action for e in audit_entries(runtime, None) if e.action.startswith(prefix)]


def member_by_name(runtime: Runtime, name: str) -> StaffMember | None:
    with transaction(runtime.sessions) as session:
        return session.scalars(select(StaffMember).where(StaffMember.name == name)).first()


def test_owner_invites_from_the_console_and_the_entry_names_the_owner_and_role(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, owner: StaffMember
) -> None:
    home = client.get("/admin")
    assert 'href="/admin/staff"' in home.text
    listed = client.get("/admin/staff")
    assert listed.status_code == 200
    assert "Olive Owner" in listed.text

    sent = s.post_form(client, "/admin/staff", "/admin/staff",
                       {"email": AGENT, "name": "Sam Agent", "role": "support_agent"})  # fmt: skip
    assert sent.status_code == 303
    assert sent.headers["location"] == "/admin/staff?done=invited"
    invitation = smtp.inbox.to(AGENT)[-1].get_body(preferencelist=("plain",))
    assert invitation is not None
    assert "as support agent" in invitation.get_content()
    sam = member_by_name(runtime, "Sam Agent")
    assert sam is not None
    assert sam.role == "support_agent"
    assert sam.invited_by == f"staff:{owner.id}"
    entries = audit_entries(runtime, f"staff.invite.support_agent:{sam.id}")
    assert [e.actor for e in entries] == [f"staff:{owner.id}/owner"]
    page = client.get("/admin/staff")
    assert "Sam Agent" in page.text
    assert "invited" in page.text

    eve = {"email": "eve@example.com", "name": "Eve", "role": "superuser"}
    tampered = s.post_form(client, "/admin/staff", "/admin/staff", eve)
    assert tampered.status_code == 422
    assert "Choose one of the roles listed." in tampered.text
    assert member_by_name(runtime, "Eve") is None
    assert not smtp.inbox.to("eve@example.com")
    twice = s.post_form(client, "/admin/staff", "/admin/staff",
                        {"email": AGENT.upper(), "name": "Sam", "role": "analyst"})  # fmt: skip
    assert twice.status_code == 409
    assert "That address is already a staff member&#39;s." in twice.text
    bad = s.post_form(client, "/admin/staff", "/admin/staff",
                      {"email": "not an address", "name": "", "role": "analyst"})  # fmt: skip
    assert bad.status_code == 422


def test_only_an_owner_reaches_staff_pages_and_a_tampered_post_changes_nothing(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, owner: StaffMember
) -> None:
    officer = s.invite(runtime, OFFICER, Role.PRIVACY_OFFICER, "Priya Officer")
    desk = other_client(client)
    s.join(desk, runtime, smtp, OFFICER)
    assert 'href="/admin/staff"' not in desk.get("/admin").text
    for path in ("/admin/staff", f"/admin/staff/{owner.id}"):
        refused = desk.get(path)
        assert refused.status_code == 403, path
        assert "staff_owner_only" in refused.text
    escalate = s.post_form(desk, "/admin", f"/admin/staff/{officer.id}/role", {"role": "owner"})
    assert escalate.status_code == 403
    mallory = {"email": "mallory@example.com", "name": "M", "role": "owner"}
    invite = s.post_form(desk, "/admin", "/admin/staff", mallory)
    assert invite.status_code == 403
    remove = s.post_form(desk, "/admin", f"/admin/staff/{owner.id}/remove", {})
    assert remove.status_code == 403
    with transaction(runtime.sessions) as session:
        me = session.get(StaffMember, officer.id)
        assert me is not None
        assert me.role == "privacy_officer"
        assert session.scalars(select(StaffMember).where(StaffMember.name == "M")).first() is None
    assert not actions(runtime, "staff.role")
    # CSRF: the owner's own post without the form's token is refused and changes nothing.
    forged = client.post(f"/admin/staff/{officer.id}/role", data={"role": "auditor"},
                         follow_redirects=False)  # fmt: skip
    assert forged.status_code == 403
    assert "did not come from this site" in forged.text
    assert desk.get("/admin/audit").status_code == 200  # still signed in, still an officer


def test_role_change_and_removal_end_the_members_session_at_once(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, owner: StaffMember
) -> None:
    sam = s.invite(runtime, AGENT, Role.SUPPORT_AGENT, "Sam Agent")
    desk = other_client(client)
    secret = s.join(desk, runtime, smtp, AGENT)
    assert desk.get("/admin/people").status_code == 200

    page = f"/admin/staff/{sam.id}"
    changed = s.post_form(client, page, f"{page}/role", {"role": "analyst"})
    assert changed.status_code == 303
    assert changed.headers["location"] == f"{page}?done=role"
    assert desk.get("/admin/people", follow_redirects=False).status_code == 303  # signed out
    [entry] = audit_entries(runtime, f"staff.role.analyst:{sam.id}")
    assert entry.actor == f"staff:{owner.id}/owner"

    assert isinstance(runtime.clock, FrozenClock)
    runtime.clock.advance(timedelta(seconds=30))
    desk.cookies.clear()
    s.join_again(desk, runtime, smtp, AGENT, secret)
    assert desk.get("/admin/analytics").status_code == 200
    removed = s.post_form(client, page, f"{page}/remove", {})
    assert removed.status_code == 303
    assert desk.get("/admin/analytics", follow_redirects=False).status_code == 303
    assert audit_entries(runtime, f"staff.remove:{sam.id}")
    gone = client.get(page)
    assert gone.status_code == 200
    assert "Removed" in gone.text
    assert "Change role" not in gone.text  # nothing more is done to a removed member
    again = s.post_form(client, "/admin/staff", f"{page}/role", {"role": "auditor"})
    assert again.status_code == 404


def test_last_owner_is_kept_and_the_refusal_is_shown(
    client: TestClient, runtime: Runtime, owner: StaffMember
) -> None:
    page = f"/admin/staff/{owner.id}"
    refused = s.post_form(client, page, f"{page}/remove", {})
    assert refused.status_code == 409
    assert "The last owner cannot be removed: make another owner first." in refused.text
    demoted = s.post_form(client, page, f"{page}/role", {"role": "auditor"})
    assert demoted.status_code == 409
    assert client.get("/admin/staff").status_code == 200  # still an owner, still signed in
    assert not actions(runtime, "staff.remove")


def test_sessions_are_listed_and_one_is_ended_from_the_page(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, owner: StaffMember
) -> None:
    sam = s.invite(runtime, AGENT, Role.AUDITOR, "Sam Auditor")
    desk = other_client(client)
    s.join(desk, runtime, smtp, AGENT)
    page = client.get(f"/admin/staff/{sam.id}")
    with transaction(runtime.sessions) as session:
        [live] = session.scalars(select(WebSession).where(WebSession.staff_member_id == sam.id))
        session_id = live.id
    action = f"/admin/staff/{sam.id}/sessions/{session_id}/revoke"
    assert f'action="{action}"' in page.text
    assert desk.get("/admin/audit").status_code == 200
    ended = s.post_form(client, "/admin/staff", action, {})
    assert ended.status_code == 303
    assert desk.get("/admin/audit", follow_redirects=False).status_code == 303
    assert "Not signed in anywhere." in client.get(f"/admin/staff/{sam.id}").text
    [entry] = audit_entries(runtime, f"staff.session_revoke:{sam.id}")
    assert entry.actor == f"staff:{owner.id}/owner"
    twice = s.post_form(client, "/admin/staff", action, {})
    assert twice.status_code == 404
    assert "That session has ended already." in twice.text
    own = client.get(f"/admin/staff/{owner.id}")
    assert "(this session)" in own.text
    with transaction(runtime.sessions) as session:
        [mine] = session.scalars(select(WebSession).where(WebSession.staff_member_id == owner.id))
        my_id = mine.id
    elsewhere = f"/admin/staff/{sam.id}/sessions/{my_id}/revoke"  # a session not Sam's
    assert s.post_form(client, "/admin/staff", elsewhere, {}).status_code == 404
    assert client.get("/admin/staff").status_code == 200


def test_totp_reset_ends_sessions_and_the_next_sign_in_enrols_a_new_authenticator(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, owner: StaffMember
) -> None:
    sam = s.invite(runtime, AGENT, Role.SUPPORT_AGENT, "Sam Agent")
    refused = s.post_form(client, "/admin/staff", f"/admin/staff/{sam.id}/totp-reset", {})
    assert refused.status_code == 409  # nothing to reset before they set one up
    desk = other_client(client)
    old = s.join(desk, runtime, smtp, AGENT)
    reset = s.post_form(client, "/admin/staff", f"/admin/staff/{sam.id}/totp-reset", {})
    assert reset.status_code == 303
    assert desk.get("/admin/people", follow_redirects=False).status_code == 303
    [entry] = audit_entries(runtime, f"staff.totp_reset:{sam.id}")
    assert entry.actor == f"staff:{owner.id}/owner"

    assert isinstance(runtime.clock, FrozenClock)
    runtime.clock.advance(timedelta(seconds=30))
    desk.cookies.clear()
    attempt, new = s.enrol(desk, smtp, AGENT)  # the e-mailed code leads to a new enrolment
    assert new != old
    stale = s.post_step(desk, "totp", attempt, s.totp(runtime, old))
    assert stale.status_code == 422  # the old app's code no longer signs in
    assert s.post_step(desk, "totp", attempt, s.totp(runtime, new)).status_code == 303


def test_audit_log_filters_by_member(
    client: TestClient, runtime: Runtime, smtp: SmtpServer, owner: StaffMember
) -> None:
    sam = s.invite(runtime, AGENT, Role.AUDITOR, "Sam Auditor")
    s.join(other_client(client), runtime, smtp, AGENT)
    mine = client.get("/admin/audit", params={"member": str(owner.id)})
    assert mine.status_code == 200
    rows = re.findall(r"<code>(staff:[0-9a-f-]{36}/\w+)</code>", mine.text)
    assert rows
    assert set(rows) == {f"staff:{owner.id}/owner"}
    theirs = client.get("/admin/audit", params={"member": str(sam.id)})
    assert set(re.findall(r"<code>(staff:[0-9a-f-]{36}/\w+)</code>", theirs.text)) == {
        f"staff:{sam.id}/auditor"
    }
    assert "Sam Auditor, auditor" in theirs.text
    unknown = client.get("/admin/audit", params={"member": str(uuid.uuid4())})
    assert unknown.status_code == 422
    assert "Choose a staff member from the list." in unknown.text
