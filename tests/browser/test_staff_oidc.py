"""Single sign-on in Chromium: the staff sign-in page's "Sign in with …" button, the real
OpenID provider's form (another site: localhost, while Safehold is 127.0.0.1), and back to
the console with only the member's role's pages; an unverified e-mail refused on the
sign-in page with the reason."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from safehold import migrate
from safehold.runtime import Runtime, build_runtime
from safehold.staff.rules import Role
from tests.browser.conftest import screenshot, serving
from tests.e2e import staff_support as s
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider

ADDRESS = "priya.officer@example.com"


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider() as running:
        yield running


@pytest.fixture
def port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_runtime(
    tmp_path: Path, smtp: SmtpServer, provider: Provider, port: int
) -> Iterator[Runtime]:
    """Safehold knowing its own address (the provider redirects back to it)."""
    settings = comms_settings(
        tmp_path, smtp, base_url=f"http://127.0.0.1:{port}", oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET, oidc_name="Example SSO",
    )  # fmt: skip
    runtime = build_runtime(settings)
    migrate.upgrade(runtime.engine)
    yield runtime
    runtime.close()


@pytest.fixture
def live_server(live_runtime: Runtime, port: int) -> Iterator[str]:
    with serving(live_runtime, port) as url:
        yield url


def through_provider(page: Page, live_server: str, sub: str) -> None:
    page.goto(live_server + "/admin/sign-in")
    page.get_by_role("link", name="Sign in with Example SSO").click()
    expect(page.get_by_role("heading", name="Authorize Client")).to_be_visible()
    page.locator("input[name=sub]").fill(sub)
    page.get_by_role("button", name="Authorize").click()


def test_member_signs_in_through_the_provider(
    page: Page, live_server: str, live_runtime: Runtime, provider: Provider
) -> None:
    s.invite(live_runtime, ADDRESS, Role.PRIVACY_OFFICER, "Priya Officer")
    provider.user("priya", email=ADDRESS, email_verified=True)
    page.goto(live_server + "/admin/sign-in")
    screenshot(page, "staff-sign-in-sso")
    through_provider(page, live_server, "priya")

    page.wait_for_url(f"{live_server}/admin")
    expect(page.get_by_text("Signed in as Priya Officer, privacy officer.")).to_be_visible()
    nav = page.locator("nav.console-nav")
    expect(nav.get_by_role("link", name="Requests")).to_be_visible()
    expect(nav.get_by_role("link", name="Analytics")).to_have_count(0)
    page.goto(live_server + "/admin/analytics")
    expect(page.get_by_text("missing_scope")).to_be_visible()


def test_an_unverified_email_is_refused_on_the_sign_in_page(
    page: Page, live_server: str, live_runtime: Runtime, provider: Provider
) -> None:
    s.invite(live_runtime, ADDRESS, Role.PRIVACY_OFFICER, "Priya Officer")
    provider.user("unverified-priya", email=ADDRESS, email_verified=False)
    through_provider(page, live_server, "unverified-priya")
    expect(page.get_by_role("alert")).to_have_text(
        "The identity provider has not verified your e-mail address."
    )
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    screenshot(page, "staff-sso-refused")
    page.goto(live_server + "/admin")
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
