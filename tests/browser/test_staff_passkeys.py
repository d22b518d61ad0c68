"""Staff passkeys in Chromium with its virtual authenticator (CTAP2, internal, resident keys,
user verification): a member signs in with the codes, registers a passkey on their passkeys
page, signs out and signs in with the passkey alone; then removes it. Served on
http://localhost (a passkey needs a host name on a secure origin); screenshots of the pages."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import CDPSession, Page, expect

from safehold import migrate
from safehold.app import create_app
from safehold.runtime import Runtime, build_runtime
from safehold.staff.rules import Role
from tests.browser import staff_flow
from tests.browser.conftest import screenshot
from tests.e2e import staff_support as s
from tests.integration.comms.smtp import SmtpServer
from tests.integration.comms.support import comms_settings

ADDRESS = "olu.owner@example.com"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=["required"])
def localhost(
    request: pytest.FixtureRequest, tmp_path: Path, smtp: SmtpServer
) -> Iterator[tuple[str, Runtime]]:
    """Safehold served on 127.0.0.1, its base URL http://localhost:<port> (the RP id), with
    SAFEHOLD_STAFF_2FA the fixture's parameter."""
    port = _free_port()
    base = f"http://localhost:{port}"
    settings = comms_settings(tmp_path, smtp, base_url=base, staff_2fa=request.param)
    runtime = build_runtime(settings)
    migrate.upgrade(runtime.engine)
    config = uvicorn.Config(
        create_app(runtime), host="127.0.0.1", port=port, log_config=None, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield base, runtime
    server.should_exit = True
    thread.join(timeout=10)
    runtime.close()


def virtual_authenticator(page: Page) -> tuple[CDPSession, str]:
    """Chromium's virtual authenticator: CTAP2, built in, resident keys, user verified."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {"options": {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
                     "hasUserVerification": True, "isUserVerified": True}},
    )["authenticatorId"]  # fmt: skip
    return cdp, str(authenticator)


def test_register_a_passkey_then_sign_in_with_it_in_chromium(
    page: Page, localhost: tuple[str, Runtime], smtp: SmtpServer
) -> None:
    base, runtime = localhost
    cdp, authenticator = virtual_authenticator(page)
    s.invite(runtime, ADDRESS, Role.OWNER, "Olu Owner")
    staff_flow.enter_codes(page, base, smtp, ADDRESS)
    page.wait_for_url(f"{base}/admin")

    page.get_by_role("link", name="Your passkeys").click()
    expect(page.get_by_text("You have no passkey yet.")).to_be_visible()
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("heading", name="Add a passkey")).to_be_visible()
    page.get_by_label("Name of this passkey").fill("Work laptop")
    screenshot(page, "staff-passkey-add")
    page.get_by_role("button", name="Create the passkey").click()
    added = page.get_by_text("Your passkey is registered: it signs you in from now on.")
    expect(added).to_be_visible()
    expect(page.get_by_role("cell", name="Work laptop", exact=True)).to_be_visible()
    screenshot(page, "staff-passkeys")
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert [c["isResidentCredential"] for c in stored["credentials"]] == [True]

    page.get_by_role("button", name="Sign out").click()
    page.goto(base + "/admin/sign-in")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("heading", name="Sign in with a passkey")).to_be_visible()
    page.get_by_role("button", name="Use my passkey").click()
    page.wait_for_url(f"{base}/admin")
    expect(page.get_by_text("Signed in as Olu Owner, owner.")).to_be_visible()

    page.get_by_role("link", name="Your passkeys").click()
    expect(page.get_by_role("cell", name="never")).to_have_count(0)  # last used: just now
    page.get_by_role("button", name="Remove Work laptop").click()
    expect(page.get_by_text("The passkey is removed: it no longer signs you in.")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    page.goto(base + "/admin/sign-in")
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.get_by_role("button", name="Use my passkey").click()
    expect(page.get_by_role("alert")).to_have_text("That passkey is not one of this console's.")
    screenshot(page, "staff-passkey-refused")


@pytest.mark.parametrize("localhost", ["passkey"], indirect=True)
def test_under_passkey_the_first_sign_in_ends_on_registering_one_in_chromium(
    page: Page, localhost: tuple[str, Runtime], smtp: SmtpServer
) -> None:
    base, runtime = localhost
    virtual_authenticator(page)
    s.invite(runtime, ADDRESS, Role.OWNER, "Olu Owner")
    staff_flow.enter_codes(page, base, smtp, ADDRESS)
    expect(page.get_by_text("This console signs staff in with passkeys only.")).to_be_visible()
    page.get_by_label("Name of this passkey").fill("Phone")
    screenshot(page, "staff-passkey-required")
    page.get_by_role("button", name="Create the passkey").click()
    page.wait_for_url(f"{base}/admin")
    expect(page.get_by_text("Signed in as Olu Owner, owner.")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    page.goto(base + "/admin/sign-in")
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.get_by_role("button", name="Use my passkey").click()
    page.wait_for_url(f"{base}/admin")
    expect(page.get_by_text("Signed in as Olu Owner, owner.")).to_be_visible()
