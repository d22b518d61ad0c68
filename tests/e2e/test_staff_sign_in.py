"""Staff members sign in to the console with an e-mailed code and a TOTP, see what their
role allows, are named in the audit log, and are signed out at once when removed; brute
force on either code is locked out and a used TOTP code is refused."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from safehold.access.models import AuditEntry
from safehold.access.rules import Actor
from safehold.clock import FrozenClock
from safehold.config import Settings
from safehold.db import transaction
from safehold.runtime import Runtime
from safehold.staff import service
from safehold.staff.models import StaffSignIn
from safehold.staff.rules import Role
from safehold.web import jobs as web_jobs
from tests.e2e import staff_support as s
from tests.e2e.conftest import audit_entries
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings, register

AGENT = "sam.agent@example.com"
ALL_PAGES = ["/admin/retention", "/admin/audit", "/admin/promises",
             "/admin/messages", "/admin/policy", "/admin/ropa", "/admin/analytics"]  # fmt: skip


@pytest.fixture
def settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    return comms_settings(tmp_path, smtp)


def sign_in_first_time(client: TestClient, runtime: Runtime, smtp: SmtpServer, address: str) -> str:
    attempt, secret = s.enrol(client, smtp, address)
    done = s.post_step(client, "totp", attempt, s.totp(runtime, secret))
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/admin"
    cookie = done.headers["set-cookie"]
    for attribute in ("safehold_admin=", "HttpOnly", "SameSite=strict", "Path=/admin"):
        assert attribute in cookie
    return secret


def test_invited_support_agent_signs_in_sees_only_their_role_and_is_named_in_the_audit(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    ada = register(runtime, "Ada Quill", "ada.quill@example.com")
    member = s.invite(runtime, AGENT, Role.SUPPORT_AGENT, "Sam Agent")
    invitation = smtp.inbox.to(AGENT)[-1].get_body(preferencelist=("plain",))
    assert invitation is not None
    assert "as support agent" in invitation.get_content()
    sign_in_first_time(client, runtime, smtp, AGENT)

    home = client.get("/admin")
    assert home.status_code == 200
    assert "Signed in as <strong>Sam Agent</strong>, support agent." in home.text
    assert 'href="/admin/people"' in home.text
    assert 'href="/admin/requests"' in home.text  # requests:open (decision 0040)
    for path in ALL_PAGES:
        refused = client.get(path)
        assert refused.status_code == 403, path
        assert "Your role, support agent, does not hold the scope" in refused.text
        assert "safehold keys create" not in refused.text  # a member is not told to get a key

    form = client.get("/admin/people")
    other = {"csrf_token": s.token(form), "contact": "ada.quill@example.com",
             "purpose": "communication.marketing"}  # fmt: skip
    assert client.post("/admin/people", data=other).status_code == 422
    allowed = {**other, "purpose": "service_provision"}
    found = client.post("/admin/people", data=allowed)
    assert found.status_code == 200
    assert "Ada Quill" in found.text
    assert "does not hold the scope requests" not in found.text  # it may open one for Ada
    assert "Your key" not in found.text

    actor = f"staff:{member.id}/support_agent"  # the member, and the role they acted in
    sign_ins = [e for e in audit_entries(runtime, "console.sign_in") if e.actor == actor]
    assert [e.outcome for e in sign_ins] == ["ok"]
    reads = [e for e in audit_entries(runtime, None) if e.subject_id == ada and e.actor == actor]
    assert reads, "the look-up's audit entries name the member"
    assert all(isinstance(e, AuditEntry) for e in reads)


def test_removal_ends_the_session_at_once_and_the_member_cannot_sign_in_again(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    s.invite(runtime, AGENT, Role.SUPPORT_AGENT, "Sam Agent")
    s.invite(runtime, "olive.owner@example.com", Role.OWNER, "Olive Owner")
    sign_in_first_time(client, runtime, smtp, AGENT)
    assert client.get("/admin/people").status_code == 200
    with transaction(runtime.sessions) as session:
        service.remove(session, service.context(runtime), AGENT, actor=Actor("admin", "test"))
    gone = client.get("/admin/people", follow_redirects=False)
    assert gone.status_code == 303
    assert gone.headers["location"].startswith("/admin/sign-in")
    before = len(smtp.inbox.to(AGENT))
    attempt = s.attempt_of(s.ask_code(client, AGENT))
    assert len(smtp.inbox.to(AGENT)) == before  # no code for a removed member
    refused = s.post_step(client, "code", attempt, "12345678")
    assert refused.status_code == 422
    assert "That code is not right." in refused.text


def test_a_changed_role_ends_the_session_and_the_next_one_has_the_new_role(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    member = s.invite(runtime, AGENT, Role.SUPPORT_AGENT, "Sam Agent")
    secret = sign_in_first_time(client, runtime, smtp, AGENT)
    with transaction(runtime.sessions) as session:
        service.change_role(
            session, service.context(runtime), AGENT, Role.AUDITOR, actor=Actor("admin", "test")
        )
    assert client.get("/admin", follow_redirects=False).status_code == 303
    assert isinstance(runtime.clock, FrozenClock)
    runtime.clock.advance(timedelta(seconds=30))
    attempt = s.attempt_of(s.ask_code(client, AGENT))
    s.post_step(client, "code", attempt, s.mailed_code(smtp, AGENT))
    assert s.post_step(client, "totp", attempt, s.totp(runtime, secret)).status_code == 303
    assert client.get("/admin/audit").status_code == 200
    assert client.get("/admin/people").status_code == 403
    # A role changed by any other means ends the session too: it records the role it began with.
    with transaction(runtime.sessions) as session:
        row = session.get(type(member), member.id)
        assert row is not None
        row.role = str(Role.ANALYST)
    assert client.get("/admin", follow_redirects=False).status_code == 303


def test_a_used_totp_code_is_refused_on_the_next_sign_in(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    s.invite(runtime, AGENT, Role.ANALYST, "Ana Lyst")
    secret = sign_in_first_time(client, runtime, smtp, AGENT)
    client.cookies.clear()
    attempt = s.attempt_of(s.ask_code(client, AGENT))
    step = s.post_step(client, "code", attempt, s.mailed_code(smtp, AGENT))
    assert step.status_code == 303  # enrolled: straight to the authenticator step
    assert step.headers["location"].startswith("/admin/sign-in/totp")
    replayed = s.post_step(client, "totp", attempt, s.totp(runtime, secret))
    assert replayed.status_code == 422
    assert "That code was used already: wait for the next one." in replayed.text
    assert isinstance(runtime.clock, FrozenClock)
    runtime.clock.advance(timedelta(seconds=30))
    fresh = s.post_step(client, "totp", attempt, s.totp(runtime, secret))
    assert fresh.status_code == 303


def test_totp_brute_force_is_locked_out_even_for_the_right_code(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    member = s.invite(runtime, AGENT, Role.AUDITOR, "Aud Itor")
    secret = sign_in_first_time(client, runtime, smtp, AGENT)
    assert isinstance(runtime.clock, FrozenClock)
    runtime.clock.advance(timedelta(seconds=30))
    wrong = "000000" if s.totp(runtime, secret) != "000000" else "111111"
    statuses = []
    for _ in range(3):  # new attempts: each allows 5 wrong codes, the member 10 in all
        client.cookies.clear()
        attempt = s.attempt_of(s.ask_code(client, AGENT))
        assert s.post_step(client, "code", attempt, s.mailed_code(smtp, AGENT)).status_code == 303
        statuses += [s.post_step(client, "totp", attempt, wrong).status_code for _ in range(5)]
    assert statuses[:10] == [422] * 10
    assert statuses[10:] == [429] * 5
    locked = s.post_step(client, "totp", attempt, s.totp(runtime, secret))
    assert locked.status_code == 429
    assert "Too many wrong codes: sign-in is locked." in locked.text
    refusals = [e for e in audit_entries(runtime, "console.sign_in")
                if e.actor == f"staff:{member.id}/auditor" and e.outcome == "refused"]  # fmt: skip
    assert len(refusals) == 10


def test_e_mailed_code_brute_force_is_limited_per_attempt_and_per_client(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    s.invite(runtime, AGENT, Role.AUDITOR, "Aud Itor")
    attempt = s.attempt_of(s.ask_code(client, AGENT))
    right = s.mailed_code(smtp, AGENT)
    wrong = "00000000" if right != "00000000" else "11111111"
    for _ in range(5):
        assert s.post_step(client, "code", attempt, wrong).status_code == 422
    spent = s.post_step(client, "code", attempt, right)
    assert spent.status_code == 422
    assert "Too many wrong codes: ask for a new one." in spent.text
    for _ in range(24):  # the client's 30 checks per 15 minutes
        s.post_step(client, "code", attempt, wrong)
    limited = s.post_step(client, "code", attempt, wrong)
    assert limited.status_code == 429


def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    answer = s.ask_code(client, "nobody@example.com")
    assert answer.status_code == 303
    assert smtp.inbox.to("nobody@example.com") == []
    page = client.get(answer.headers["location"])
    assert "If that address is a staff member&#39;s" in page.text
    assert isinstance(runtime.clock, FrozenClock)
    runtime.clock.advance(timedelta(minutes=10))
    web_jobs.purge(runtime)  # expired attempts are removed with the sessions and codes
    with runtime.sessions() as session:
        assert session.scalars(select(StaffSignIn)).all() == []


def test_the_sign_in_forms_need_the_csrf_token(client: TestClient) -> None:
    for path in ("/admin/sign-in/email", "/admin/sign-in/code", "/admin/sign-in/totp"):
        refused = client.post(path, data={"email": AGENT, "code": "123456"})
        assert refused.status_code == 403, path


def test_a_code_the_mail_server_refused_is_a_retry_page_and_leaves_no_attempt(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    s.invite(runtime, AGENT, Role.AUDITOR, "Aud Itor")
    smtp.inbox.refuse[AGENT] = "451 4.3.0 try again later"
    answer = s.ask_code(client, AGENT)
    assert answer.status_code == 503
    assert "The code could not be e-mailed just now." in answer.text
    with runtime.sessions() as session:
        assert session.scalars(select(StaffSignIn)).all() == []


def test_an_invitation_unused_for_seven_days_mails_no_code(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    s.invite(runtime, AGENT, Role.AUDITOR, "Aud Itor")
    assert isinstance(runtime.clock, FrozenClock)
    runtime.clock.advance(timedelta(days=7))
    before = len(smtp.inbox.to(AGENT))
    assert s.ask_code(client, AGENT).status_code == 303
    assert len(smtp.inbox.to(AGENT)) == before


def test_a_key_left_unconfirmed_is_replaced_and_the_key_is_stored_sealed(
    client: TestClient, runtime: Runtime, smtp: SmtpServer
) -> None:
    member = s.invite(runtime, AGENT, Role.AUDITOR, "Aud Itor")
    _, first = s.enrol(client, smtp, AGENT)
    attempt, second = s.enrol(client, smtp, AGENT)
    assert first != second
    with runtime.sessions() as session:
        row = session.get(type(member), member.id)
        assert row is not None
        assert row.totp_sealed is not None
        assert second.encode() not in row.totp_sealed
        assert len(row.totp_sealed) == 12 + 32 + 16  # nonce, the key's 32 characters, tag
    stale = s.post_step(client, "totp", attempt, s.totp(runtime, first))
    assert stale.status_code == 422
    assert s.post_step(client, "totp", attempt, s.totp(runtime, second)).status_code == 303


def test_a_wrong_code_for_no_member_is_audited_without_naming_anyone(
    client: TestClient, runtime: Runtime
) -> None:
    attempt = s.attempt_of(s.ask_code(client, "nobody@example.com"))
    assert s.post_step(client, "code", attempt, "12345678").status_code == 422
    entries = audit_entries(runtime, "console.sign_in")
    assert [(e.actor, e.outcome) for e in entries] == [("system:console-sign-in", "refused")]
