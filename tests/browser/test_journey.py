"""One whole journey in Chromium: a person signs in to the privacy center with the code the
real SMTP sink received, corrects their e-mail address (confirmed with the code sent to the
new one), opts out of marketing, objects to platform improvement, downloads their data and
asks for deletion; a staff member carries the erasure out from the console;
the person then reads the certificate. Screenshots of each page go to
test-output/screenshots/ (and /me at phone width)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from safehold import migrate
from safehold.access import service as access
from safehold.access.rules import Actor
from safehold.config import Settings
from safehold.db import transaction
from safehold.runtime import Runtime, build_runtime
from safehold.subjects import rules as subject_rules
from safehold.subjects import service as subjects
from tests.browser.conftest import drain_outbox, screenshot
from tests.conftest import DEFAULT_POLICY
from tests.integration.comms.smtp import SmtpServer

EMAIL = "wren.halloway@example.com"
NEW_EMAIL = "wren.h@example.net"
CODE = re.compile(r"sign in to the privacy center is (\d{8})")
CHANGE_CODE = re.compile(r"new sign-in address of your account at .+ is (\d{8})\.")


@pytest.fixture
def live_runtime(tmp_path: Path, smtp: SmtpServer) -> Iterator[Runtime]:
    """The browser tier's own Safehold, its e-mail going to the loopback SMTP sink."""
    settings = Settings(
        data_dir=tmp_path, policy=DEFAULT_POLICY, smtp_host=smtp.host,
        smtp_port=smtp.port, smtp_timeout=5.0, base_url="http://127.0.0.1",
    )  # fmt: skip
    runtime = build_runtime(settings)
    migrate.upgrade(runtime.engine)
    yield runtime
    runtime.close()


def person(runtime: Runtime) -> uuid.UUID:
    ctx = subjects.Context(runtime.vault, runtime.policy, runtime.clock, runtime.book)
    contact = subject_rules.contact(name="Wren Halloway", email=EMAIL, phone="+44 20 7946 0123")
    with transaction(runtime.sessions) as session:
        made = subjects.register(
            session, ctx, actor=Actor("api_key", "crm"), contact=contact,
            marketing_opt_in=True, policy_version="v1",
        )  # fmt: skip
        return made.id


def staff_key(runtime: Runtime) -> str:
    with transaction(runtime.sessions) as session:
        return access.create_key(
            session, name="privacy desk", scopes=["requests:write"], purposes=[],
            known_purposes=runtime.policy.purpose_ids, clock=runtime.clock,
            actor=Actor("admin", "test"),
        ).token  # fmt: skip


def mailed_code(
    runtime: Runtime, smtp: SmtpServer, to: str = EMAIL, code: re.Pattern[str] = CODE
) -> str:
    drain_outbox(runtime)
    messages = smtp.inbox.to(to)
    assert messages, "the code did not reach the SMTP sink"
    body = messages[-1].get_body(preferencelist=("plain",))
    assert body is not None
    found = code.search(body.get_content())
    assert found, "the e-mail carries no code"
    return found.group(1)


def sign_in(page: Page, base: str, runtime: Runtime, smtp: SmtpServer) -> None:
    page.goto(f"{base}/me")
    expect(page).to_have_url(re.compile(r"/me/sign-in\?next="))
    screenshot(page, "me-sign-in")
    page.get_by_label("Your account's e-mail address").fill(EMAIL)
    page.get_by_role("button", name="E-mail me a code").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.get_by_label("Code from the e-mail").fill(mailed_code(runtime, smtp))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/me")


def test_the_whole_journey_from_sign_in_to_the_erasure_certificate(
    browser: Browser, page: Page, live_server: str, live_runtime: Runtime, smtp: SmtpServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    base = live_server
    person(live_runtime)
    sign_in(page, base, live_runtime, smtp)
    expect(page.get_by_role("heading", level=1)).to_contain_text("holds about you")
    expect(page.get_by_text(EMAIL).first).to_be_visible()
    screenshot(page, "me-overview")
    # issue 20, item 8: each purpose described once, each category's facts side by side
    # (6,763 px at 1280 px before, 4,803 px after, for the demo person's policy)
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 5_500, f"/me is {height} px tall at 1280 px"
    page.set_viewport_size({"width": 375, "height": 812})
    screenshot(page, "me-overview-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page is {width} px wide on a 375 px screen"
    page.set_viewport_size({"width": 1280, "height": 900})

    # Correct the e-mail address (a wrong one first: the error sits next to its field).
    page.get_by_role("link", name="Correct my details").click()
    page.get_by_label("E-mail address").fill("wren.at.example")
    page.get_by_role("button", name="Save my details").click()
    error = page.locator(".field.has-error", has=page.locator("#f-email")).locator(".error")
    expect(error).to_have_text("Enter an e-mail address like name@example.com.")
    expect(page.locator("#f-email")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "me-details-error")
    page.get_by_label("E-mail address").fill(NEW_EMAIL)
    page.get_by_role("button", name="Save my details").click()
    expect(page.get_by_role("status")).to_contain_text("We sent a code to your new e-mail")
    expect(page.get_by_label("E-mail address")).to_have_value(EMAIL)  # not before the code
    screenshot(page, "me-details-confirm")
    page.get_by_label("Code from the e-mail").fill(
        mailed_code(live_runtime, smtp, NEW_EMAIL, CHANGE_CODE)
    )
    page.get_by_role("button", name="Confirm the new address").click()
    expect(page.get_by_role("status")).to_contain_text("Your new e-mail address is confirmed")
    expect(page.get_by_label("E-mail address")).to_have_value(NEW_EMAIL)
    screenshot(page, "me-details")

    # Opt out of marketing: effective at once.
    page.get_by_role("link", name="Marketing e-mails").click()
    page.get_by_label("No marketing e-mails").check()
    page.get_by_role("button", name="Save my choice").click()
    expect(page.locator("main")).to_contain_text("Right now you do not receive marketing")
    screenshot(page, "me-marketing")

    # Object to platform improvement (Art. 21), then withdraw and object again.
    page.get_by_role("link", name="Object to a use").click()
    page.get_by_role("button", name="I object to this use").click()
    expect(page.get_by_role("status")).to_contain_text("Your objection is recorded")
    page.get_by_role("button", name="Withdraw my objection").click()
    expect(page.get_by_role("status")).to_contain_text("Your objection is withdrawn")
    page.get_by_role("button", name="I object to this use").click()
    expect(page.locator("main")).to_contain_text("You object to this use")
    screenshot(page, "me-objections")

    page.get_by_role("link", name="Devices and sign-ins").click()
    expect(page.get_by_role("heading", name="Recent sign-ins")).to_be_visible()
    screenshot(page, "me-devices")

    # Download my data.
    page.get_by_role("link", name="Download my data").click()
    page.get_by_role("button", name="Prepare my data").click()
    with page.expect_download() as fetched:
        page.get_by_role("link", name="Download the file (JSON)").click()
    saved = tmp_path / "export.json"
    fetched.value.save_as(saved)
    export = json.loads(saved.read_text())
    emails = [c["values"] for c in export["categories"] if c["id"] == "account.email"]
    assert emails == [{"email": NEW_EMAIL}]
    screenshot(page, "me-export")

    # Ask for deletion: the plan first, then the confirmation.
    page.get_by_role("link", name="Delete my data").click()
    expect(
        page.get_by_role("heading", name="What we would keep, why and until when")
    ).to_be_visible()
    screenshot(page, "me-delete")
    page.get_by_label("I understand that my account ends").check()
    page.get_by_role("button", name="Delete my data").click()
    expect(page.get_by_role("status")).to_contain_text("Your deletion request is confirmed")
    certificate = page.get_by_role("link", name="Your deletion certificate").get_attribute("href")
    assert certificate
    assert "/certificate?link=" in certificate
    page.get_by_role("link", name="My requests").click()
    # the address, two objections, access, erasure
    expect(page.locator("tbody tr")).to_have_count(5)
    screenshot(page, "me-requests")
    page.get_by_role("link", name="Policy", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("The privacy policy and you")
    screenshot(page, "me-policy")

    # A staff member carries the erasure out from the console.
    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    desk = staff.new_page()
    desk.goto(f"{base}/admin/sign-in")
    desk.get_by_text("Break-glass: sign in with an API key").click()
    desk.get_by_label("API key").fill(staff_key(live_runtime))
    desk.get_by_role("button", name="Sign in with the key").click()
    desk.goto(f"{base}/admin/requests")
    desk.locator("table").get_by_role("link", name=re.compile("^Erasure request")).click()
    # staff see the plan the person saw, and confirm it before it is carried out
    expect(desk.locator("form ul.plan-erased")).to_be_visible()
    screenshot(desk, "console-erasure-plan")
    desk.get_by_role("button", name="Carry out the erasure").click()
    expect(desk.get_by_role("alert")).to_contain_text("Tick the box to confirm the plan")
    desk.get_by_label("I have checked this plan").check()
    desk.get_by_role("button", name="Carry out the erasure").click()
    expect(desk.locator("main")).to_contain_text("completed")
    staff.close()

    # The person's account is gone; their certificate link still shows what was done.
    page.goto(f"{base}/me/requests")
    expect(page).to_have_url(re.compile(r"/me/sign-in"))
    page.goto(f"{base}{certificate}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Deletion certificate")
    expect(page.locator("main")).to_contain_text("Nothing readable of the erased data remains.")
    # never billed: nothing kept for tax law, and the certificate says so (issue 17, item 6);
    # kept only: the address, for the e-mail that says the erasure was done (decision 0028)
    expect(page.locator("main table")).to_contain_text(
        "only to send you the e-mail that says this deletion was carried out"
    )
    expect(page.locator("main")).to_contain_text(
        "Not kept for you: what our policy keeps for a legal obligation only for people of "
        "whom we hold payment information."
    )
    screenshot(page, "me-certificate")


def test_a_sign_in_error_shows_next_to_its_field(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/me/sign-in")
    page.get_by_role("button", name="E-mail me a code").click()
    field = page.locator(".field", has=page.locator("#f-email"))
    expect(field.locator("p.error")).to_have_text("Enter the e-mail address of your account.")
    described = page.locator("#f-email").get_attribute("aria-describedby") or ""
    assert "f-email-error" in described.split()
    screenshot(page, "me-sign-in-error")
