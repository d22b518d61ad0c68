"""What the staff browser tests share: a live runtime that sends mail to the test's SMTP
server, and a member's first sign-in in Chromium (the e-mailed code, then the authenticator
the page enrols)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page

from safehold import migrate
from safehold.runtime import Runtime, build_runtime
from tests.e2e import staff_support as s
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings


@pytest.fixture
def live_runtime(tmp_path: Path, smtp: SmtpServer) -> Iterator[Runtime]:
    """The browser conftest's live runtime, with mail going to ``smtp``."""
    runtime = build_runtime(comms_settings(tmp_path, smtp))
    migrate.upgrade(runtime.engine)
    yield runtime
    runtime.close()


def first_sign_in(page: Page, base: str, smtp: SmtpServer, address: str) -> None:
    """A first sign-in: the code from the sink, then the authenticator the page enrols."""
    enter_codes(page, base, smtp, address)
    page.wait_for_url(f"{base}/admin")


def enter_codes(page: Page, base: str, smtp: SmtpServer, address: str) -> None:
    """A first sign-in up to its last button: the e-mailed code, then a TOTP for the
    authenticator the page enrols (what follows depends on the test: a passkey, the home)."""
    page.goto(base + "/admin/sign-in")
    page.get_by_label("E-mail address").fill(address)
    page.get_by_role("button", name="E-mail me a code").click()
    page.get_by_label("Code from the e-mail").fill(s.mailed_code(smtp, address))
    page.get_by_role("button", name="Continue").click()
    secret = page.locator(".totp-secret").inner_text()
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Sign in").click()
