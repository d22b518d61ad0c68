"""Staff management in Chromium: an owner invites a support agent and a privacy officer from
the console's staff page; each signs in (e-mailed code, authenticator enrolment, TOTP) in a
browser of their own and sees only what their role allows; the owner then ends the support
agent's session from their page, and the agent is signed out at once."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from safehold.runtime import Runtime
from safehold.staff.rules import Role
from tests.browser.conftest import screenshot
from tests.browser.staff_flow import first_sign_in, live_runtime  # noqa: F401 (fixture)
from tests.e2e import staff_support as s
from tests.integration.comms.smtp import SmtpServer

OWNER = "olive.owner@example.com"
AGENT = "sam.agent@example.com"
OFFICER = "priya.officer@example.com"


def invite(page: Page, address: str, name: str, role: str) -> None:
    page.get_by_label("E-mail address").fill(address)
    page.get_by_label("Name").fill(name)
    page.get_by_label("Role").select_option(label=role)
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_text("Invitation e-mailed.")).to_be_visible()


def test_owner_invites_two_members_who_each_see_only_their_role(
    page: Page,
    browser: Browser,
    live_server: str,
    live_runtime: Runtime,  # noqa: F811 (the mail-sending runtime of staff_flow)
    smtp: SmtpServer,
) -> None:
    s.invite(live_runtime, OWNER, Role.OWNER, "Olive Owner")
    first_sign_in(page, live_server, smtp, OWNER)
    page.locator("nav.console-nav").get_by_role("link", name="Staff").click()
    expect(page.get_by_role("heading", name="Staff", exact=True)).to_be_visible()
    invite(page, AGENT, "Sam Agent", "support agent")
    invite(page, OFFICER, "Priya Officer", "privacy officer")
    expect(page.get_by_role("link", name="Sam Agent")).to_be_visible()
    screenshot(page, "staff-list")

    agent_context, officer_context = browser.new_context(), browser.new_context()
    try:
        agent, officer = agent_context.new_page(), officer_context.new_page()
        first_sign_in(agent, live_server, smtp, AGENT)
        expect(agent.get_by_text("Signed in as Sam Agent, support agent.")).to_be_visible()
        nav = agent.locator("nav.console-nav")
        for shown in ("People", "Requests"):  # requests on a person's behalf (decision 0040)
            expect(nav.get_by_role("link", name=shown)).to_be_visible()
        for hidden in ("Audit log", "Analytics", "Policy", "Staff"):
            expect(nav.get_by_role("link", name=hidden)).to_have_count(0)
        agent.goto(live_server + "/admin/audit")
        expect(agent.get_by_text("does not hold the scope audit:read")).to_be_visible()

        first_sign_in(officer, live_server, smtp, OFFICER)
        expect(officer.get_by_text("Signed in as Priya Officer, privacy officer.")).to_be_visible()
        nav = officer.locator("nav.console-nav")
        for shown in ("Requests", "People", "Audit log", "Policy"):
            expect(nav.get_by_role("link", name=shown)).to_be_visible()
        for hidden in ("Analytics", "Messages", "Staff"):
            expect(nav.get_by_role("link", name=hidden)).to_have_count(0)
        officer.goto(live_server + "/admin/staff")
        expect(
            officer.get_by_text("only an owner manages staff members", exact=False)
        ).to_be_visible()

        page.goto(live_server + "/admin/staff")
        page.get_by_role("link", name="Sam Agent").click()
        expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
        screenshot(page, "staff-member")
        page.get_by_role("button", name="End this session").click()
        expect(page.get_by_text("Session ended.")).to_be_visible()
        agent.goto(live_server + "/admin/people")
        agent.wait_for_url(f"{live_server}/admin/sign-in*")
    finally:
        agent_context.close()
        officer_context.close()
