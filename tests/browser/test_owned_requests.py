"""Owned requests in Chromium: a privacy officer's queue opens on their own open requests,
soonest deadline first; they take an unassigned request from "Anyone's", write an internal
note, and find it in their queue in deadline order (screenshot of the request page)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import select

from safehold.db import transaction
from safehold.requests import ownership
from safehold.requests.models import DataRequest
from safehold.runtime import Runtime
from safehold.staff.rules import Role
from tests.browser.conftest import screenshot
from tests.browser.staff_flow import first_sign_in, live_runtime  # noqa: F401 (fixture)
from tests.e2e import staff_support as s
from tests.integration.comms.smtp import SmtpServer
from tests.integration.requests.support import STAFF, ctx, open_request, person

ADDRESS = "priya.officer@example.com"
NOTE = "Checked the account history with the billing team."


def _seed(runtime: Runtime, officer: uuid.UUID) -> dict[str, uuid.UUID]:
    """Three requests due in 9, 2 and 5 days: the first two the officer's, the third no one's."""
    ids = {
        tag: open_request(runtime, person(runtime, tag), "access") for tag in ("Ada", "Bea", "Cai")
    }
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        for tag, days in (("Ada", 9), ("Bea", 2), ("Cai", 5)):
            row = session.scalars(select(DataRequest).where(DataRequest.id == ids[tag])).one()
            assert row is not None
            row.deadline_at = now + timedelta(days=days)
        for tag in ("Ada", "Bea"):
            ownership.assign(session, ctx(runtime), ids[tag], actor=STAFF, member_id=officer)
    return ids


def _queue(page: Page) -> list[str]:
    return [t.strip() for t in page.locator("table.queue tbody th a").all_inner_texts()]


def test_assign_note_and_my_queue_by_deadline(
    page: Page,
    live_server: str,
    live_runtime: Runtime,  # noqa: F811 (the mail-sending runtime of staff_flow)
    smtp: SmtpServer,
) -> None:
    officer = s.invite(live_runtime, ADDRESS, Role.PRIVACY_OFFICER, "Priya Officer")
    ids = _seed(live_runtime, officer.id)
    short = {tag: str(rid)[:8] for tag, rid in ids.items()}
    first_sign_in(page, live_server, smtp, ADDRESS)

    page.goto(live_server + "/admin/requests")
    expect(page.get_by_label("Assigned to")).to_have_value("mine")
    assert _queue(page) == [f"Access request {short['Bea']}", f"Access request {short['Ada']}"]

    page.get_by_label("Assigned to").select_option("anyone")
    page.get_by_role("button", name="Filter").click()
    assert [q[-8:] for q in _queue(page)] == [short["Bea"], short["Cai"], short["Ada"]]
    page.get_by_role("link", name=f"Access request {short['Cai']}").click()
    expect(page.locator("dd.assignee")).to_have_text("Nobody yet")
    page.get_by_label("Who answers it").select_option(label="Me")
    page.get_by_role("button", name="Assign").click()
    expect(page.get_by_text("Who answers the request was changed.")).to_be_visible()
    expect(page.locator("dd.assignee")).to_contain_text("Priya Officer")

    page.get_by_label("Add a note").fill(NOTE)
    page.get_by_role("button", name="Add the note").click()
    expect(page.get_by_text("The note was added. Only staff see it.")).to_be_visible()
    expect(page.locator(".note-text")).to_have_text(NOTE)
    expect(page.locator(".note-meta")).to_contain_text("Priya Officer")
    screenshot(page, "console-request-owned")

    page.get_by_role("link", name="← The requests queue").click()
    assert [q[-8:] for q in _queue(page)] == [short["Bea"], short["Cai"], short["Ada"]]
