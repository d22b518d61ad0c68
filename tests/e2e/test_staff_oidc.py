"""Staff single sign-on against a real OpenID provider process on loopback: an invited
member signs in through it and sees only their role's pages, audited as ``staff:<id>``;
an unverified e-mail, an unknown or removed address, a replayed state, a replayed nonce
(another sign-in's code), a callback this browser did not begin and a missing or unknown
role claim are each refused with a clear page, nothing created."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from safehold import migrate
from safehold.access.rules import Actor
from safehold.app import create_app
from safehold.clock import FrozenClock
from safehold.config import Settings
from safehold.db import transaction
from safehold.runtime import Runtime, build_runtime
from safehold.staff import service
from safehold.staff.models import StaffMember, StaffOidcAttempt
from safehold.staff.rules import Role
from safehold.web import jobs as web_jobs
from safehold.web.models import WebSession
from tests.conftest import DEFAULT_POLICY
from tests.e2e import staff_support as s
from tests.e2e.conftest import audit_entries
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider

PRIYA = "priya.officer@example.com"


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider() as running:
        yield running


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))  # the provider's tokens carry the real time


@pytest.fixture
def role_claim() -> str | None:
    return None


@pytest.fixture
def settings(
    tmp_path: Path, smtp: SmtpServer, provider: Provider, role_claim: str | None
) -> Settings:
    return comms_settings(
        tmp_path, smtp, oidc_issuer=provider.issuer, oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET, oidc_name="Example SSO", oidc_role_claim=role_claim,
    )  # fmt: skip


def begin(client: TestClient) -> str:
    """Press "Sign in with …": the provider's authorization URL."""
    answer = client.get("/admin/sign-in/oidc?next=/admin", follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


def back(client: TestClient, redirect: str) -> Response:
    parts = urlsplit(redirect)
    return client.get(f"{parts.path}?{parts.query}", follow_redirects=False)


def through(client: TestClient, provider: Provider, sub: str) -> Response:
    return back(client, provider.authorize(begin(client), sub))


def members(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(StaffMember)) or 0)


def sessions_count(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(WebSession)) or 0)


def refused(answer: Response, text: str) -> None:
    assert answer.status_code == 403, answer.text
    assert text in answer.text
    assert "safehold_admin=" not in answer.headers.get("set-cookie", "")


def test_the_button_shows_when_configured(client: TestClient) -> None:
    page = client.get("/admin/sign-in")
    assert 'href="/admin/sign-in/oidc?next=/admin"' in page.text
    assert "Sign in with Example SSO" in page.text


def test_invited_member_signs_in_through_the_provider(
    client: TestClient, runtime: Runtime, provider: Provider
) -> None:
    member = s.invite(runtime, PRIYA, Role.PRIVACY_OFFICER, "Priya Officer")
    provider.user("priya", email=PRIYA, email_verified=True)
    authorize = begin(client)
    query = dict(part.split("=", 1) for part in urlsplit(authorize).query.split("&"))
    assert query["code_challenge_method"] == "S256"
    assert {"state", "nonce", "code_challenge"} <= set(query)
    done = back(client, provider.authorize(authorize, "priya"))
    assert done.status_code == 200, done.text
    assert 'http-equiv="refresh" content="0; url=/admin"' in done.text
    cookie = done.headers["set-cookie"]
    for attribute in ("safehold_admin=", "HttpOnly", "SameSite=strict", "Path=/admin"):
        assert attribute in cookie
    home = client.get("/admin")
    assert "Signed in as <strong>Priya Officer</strong>, privacy officer." in home.text
    assert client.get("/admin/requests").status_code == 200
    assert client.get("/admin/analytics").status_code == 403
    signed = audit_entries(runtime, service.SIGN_IN)
    assert [(e.actor, e.outcome) for e in signed] == [(f"staff:{member.id}/privacy_officer", "ok")]
    with runtime.sessions() as session:
        row = session.get(StaffMember, member.id)
        assert row is not None
        assert row.joined_at is not None
        assert row.invite_expires_at is None
        assert row.totp_sealed is None  # the provider owns the second factor


def test_an_unverified_email_is_refused(
    client: TestClient, runtime: Runtime, provider: Provider
) -> None:
    s.invite(runtime, PRIYA, Role.PRIVACY_OFFICER, "Priya Officer")
    provider.user("unverified", email=PRIYA, email_verified=False)
    refused(through(client, provider, "unverified"), "has not verified your e-mail address")
    provider.user("silent", email=PRIYA)  # no email_verified claim at all
    refused(through(client, provider, "silent"), "has not verified your e-mail address")
    assert sessions_count(runtime) == 0
    outcomes = [e.outcome for e in audit_entries(runtime, service.SIGN_IN)]
    assert outcomes == ["refused", "refused"]


def test_unknown_and_removed_addresses_are_refused_and_nothing_is_created(
    client: TestClient, runtime: Runtime, provider: Provider
) -> None:
    s.invite(runtime, PRIYA, Role.PRIVACY_OFFICER, "Priya Officer")
    s.invite(runtime, "olga.owner@example.com", Role.OWNER, "Olga Owner")
    provider.user("stranger", email="stranger@example.com", email_verified=True)
    refused(through(client, provider, "stranger"), "No staff member may sign in with that")
    assert members(runtime) == 2
    with transaction(runtime.sessions) as session:
        service.remove(session, service.context(runtime), PRIYA, actor=Actor("admin", "test"))
    provider.user("priya", email=PRIYA, email_verified=True)
    refused(through(client, provider, "priya"), "No staff member may sign in with that")
    assert sessions_count(runtime) == 0
    assert members(runtime) == 2


def test_a_replayed_state_is_refused(
    client: TestClient, runtime: Runtime, provider: Provider
) -> None:
    s.invite(runtime, PRIYA, Role.PRIVACY_OFFICER, "Priya Officer")
    provider.user("priya", email=PRIYA, email_verified=True)
    redirect = provider.authorize(begin(client), "priya")
    assert back(client, redirect).status_code == 200
    client.cookies.set("safehold_oidc", dict(
        part.split("=", 1) for part in urlsplit(redirect).query.split("&")
    )["state"], path="/admin/sign-in/oidc/callback")  # fmt: skip
    refused(back(client, redirect), "That sign-in link was used already")
    assert sessions_count(runtime) == 1
    assert [e.outcome for e in audit_entries(runtime, service.SIGN_IN)] == ["ok", "refused"]


def test_a_callback_this_browser_did_not_begin_is_refused(
    client: TestClient, runtime: Runtime, provider: Provider
) -> None:
    """Login CSRF: an attacker's own callback URL opened in the victim's browser."""
    s.invite(runtime, PRIYA, Role.PRIVACY_OFFICER, "Priya Officer")
    provider.user("priya", email=PRIYA, email_verified=True)
    redirect = provider.authorize(begin(client), "priya")
    client.cookies.clear()
    refused(back(client, redirect), "was not started in this browser")
    assert sessions_count(runtime) == 0


def test_a_replayed_nonce_is_refused(
    client: TestClient, runtime: Runtime, provider: Provider
) -> None:
    """A code (so an ID token, with its nonce) of one sign-in presented with another's
    state: the token's nonce is not this attempt's."""
    s.invite(runtime, PRIYA, Role.PRIVACY_OFFICER, "Priya Officer")
    provider.user("priya", email=PRIYA, email_verified=True)
    first = provider.authorize(begin(client), "priya")
    second = provider.authorize(begin(client), "priya")  # this browser's cookie: the second
    code = dict(part.split("=", 1) for part in urlsplit(first).query.split("&"))["code"]
    state = dict(part.split("=", 1) for part in urlsplit(second).query.split("&"))["state"]
    answer = client.get(
        f"/admin/sign-in/oidc/callback?code={code}&state={state}", follow_redirects=False
    )
    refused(answer, "belongs to another sign-in")
    assert sessions_count(runtime) == 0


def test_the_provider_denying_is_refused(
    client: TestClient, runtime: Runtime, provider: Provider
) -> None:
    denied = httpx.post(begin(client), data={"action": "deny"}, follow_redirects=False)
    assert denied.status_code == 302
    refused(back(client, denied.headers["location"]), "did not sign you in")


@pytest.mark.parametrize("role_claim", ["safehold_role"])
def test_the_role_claim_decides_the_role(
    client: TestClient, runtime: Runtime, provider: Provider, role_claim: str
) -> None:
    member = s.invite(runtime, "sam.agent@example.com", Role.SUPPORT_AGENT, "Sam Agent")
    provider.user("sam", email="sam.agent@example.com", email_verified=True,
                  safehold_role=["staff", "auditor"])  # fmt: skip
    assert through(client, provider, "sam").status_code == 200
    assert "Signed in as <strong>Sam Agent</strong>, auditor." in client.get("/admin").text
    changed = audit_entries(runtime, "staff.role.auditor")
    assert [e.actor for e in changed] == ["system:oidc"]
    provider.user("sam", email="sam.agent@example.com", email_verified=True)
    refused(through(client, provider, "sam"), "did not say which role you have")
    provider.user("sam", email="sam.agent@example.com", email_verified=True,
                  safehold_role="superuser")  # fmt: skip
    refused(through(client, provider, "sam"), "names a role this console does not have")
    with runtime.sessions() as session:
        row = session.get(StaffMember, member.id)
        assert row is not None
        assert row.role == Role.AUDITOR


def test_callbacks_are_rate_limited_per_client(client: TestClient, runtime: Runtime) -> None:
    """Guessing states (or codes) at the callback: 30 in any 15 minutes from one client."""
    for _ in range(30):
        answer = client.get("/admin/sign-in/oidc/callback?state=guess&code=guess")
        assert answer.status_code == 403
    limited = client.get("/admin/sign-in/oidc/callback?state=guess&code=guess")
    assert limited.status_code == 429
    assert "Too many sign-ins. Try again in" in limited.text
    assert client.get("/admin/sign-in/oidc", follow_redirects=False).status_code == 429


def test_a_provider_that_does_not_answer_is_a_503_that_records_nothing(
    tmp_path: Path, smtp: SmtpServer, runtime: Runtime
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = int(closed.getsockname()[1])
    settings = comms_settings(
        tmp_path / "down", smtp, oidc_issuer=f"http://127.0.0.1:{port}",
        oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET,
    )  # fmt: skip
    down = build_runtime(settings)
    migrate.upgrade(down.engine)
    try:
        with TestClient(create_app(down)) as other:
            answer = other.get("/admin/sign-in/oidc", follow_redirects=False)
        assert answer.status_code == 503
        assert "The identity provider did not answer as expected" in answer.text
        with down.sessions() as session:
            assert session.scalar(select(func.count()).select_from(StaffOidcAttempt)) == 0
    finally:
        down.close()


def test_without_settings_there_is_no_button_and_no_sign_in(tmp_path: Path) -> None:
    plain = build_runtime(Settings(data_dir=tmp_path / "plain", policy=DEFAULT_POLICY))
    migrate.upgrade(plain.engine)
    try:
        with TestClient(create_app(plain)) as other:
            page = other.get("/admin/sign-in").text
            assert "Single sign-on" not in page
            assert "/admin/sign-in/oidc" not in page
            answer = other.get("/admin/sign-in/oidc")
            assert answer.status_code == 404
            assert "Single sign-on is not set up here" in answer.text
            assert other.get("/admin/sign-in/oidc/callback?state=x&code=y").status_code == 404
    finally:
        plain.close()


def test_an_expired_round_trip_is_refused_and_purged(
    client: TestClient, runtime: Runtime, provider: Provider, clock: FrozenClock
) -> None:
    s.invite(runtime, PRIYA, Role.PRIVACY_OFFICER, "Priya Officer")
    provider.user("priya", email=PRIYA, email_verified=True)
    redirect = provider.authorize(begin(client), "priya")
    clock.advance(timedelta(minutes=10))
    refused(back(client, redirect), "has expired")
    web_jobs.purge(runtime)  # with the sessions and the other sign-in rows
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(StaffOidcAttempt)) == 0


def test_a_code_used_once_already_is_refused(
    client: TestClient, runtime: Runtime, provider: Provider
) -> None:
    """The provider refuses a used code at its token endpoint: a refusal, not an outage."""
    s.invite(runtime, PRIYA, Role.PRIVACY_OFFICER, "Priya Officer")
    provider.user("priya", email=PRIYA, email_verified=True)
    first = provider.authorize(begin(client), "priya")
    assert back(client, first).status_code == 200
    second = provider.authorize(begin(client), "priya")
    code = dict(part.split("=", 1) for part in urlsplit(first).query.split("&"))["code"]
    state = dict(part.split("=", 1) for part in urlsplit(second).query.split("&"))["state"]
    answer = client.get(
        f"/admin/sign-in/oidc/callback?code={code}&state={state}", follow_redirects=False
    )
    refused(answer, "did not sign you in")
    assert sessions_count(runtime) == 1
