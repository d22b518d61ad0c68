"""A staff member's first sign-in in Chromium: the e-mail address, the e-mailed code, the
authenticator enrolment (its key shown once) and the TOTP code, landing in the console
with only their role's pages; a screenshot of the enrolment page."""

from __future__ import annotations

import re

import pyotp
from playwright.sync_api import Page, expect

from safehold.runtime import Runtime
from safehold.staff.rules import Role
from tests.browser.conftest import screenshot
from tests.browser.staff_flow import live_runtime  # noqa: F401 (fixture)
from tests.e2e import staff_support as s
from tests.integration.comms.smtp import SmtpServer

ADDRESS = "priya.officer@example.com"


def test_first_sign_in_with_code_and_authenticator(
    page: Page,
    live_server: str,
    live_runtime: Runtime,  # noqa: F811 (the mail-sending runtime of staff_flow)
    smtp: SmtpServer,
) -> None:
    s.invite(live_runtime, ADDRESS, Role.PRIVACY_OFFICER, "Priya Officer")
    page.goto(live_server + "/admin/sign-in")
    page.get_by_label("E-mail address").fill(ADDRESS)
    page.get_by_role("button", name="E-mail me a code").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.get_by_label("Code from the e-mail").fill(s.mailed_code(smtp, ADDRESS))
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="Authenticator code")).to_be_visible()
    secret = page.locator(".totp-secret").inner_text()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    link = page.locator("dl.enrolment a").get_attribute("href")
    assert link is not None
    assert link.startswith("otpauth://totp/")
    screenshot(page, "staff-enrolment")
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(f"{live_server}/admin")
    expect(page.get_by_text("Signed in as Priya Officer, privacy officer.")).to_be_visible()
    nav = page.locator("nav.console-nav")
    expect(nav.get_by_role("link", name="Requests")).to_be_visible()
    expect(nav.get_by_role("link", name="Analytics")).to_have_count(0)
    screenshot(page, "staff-signed-in")
