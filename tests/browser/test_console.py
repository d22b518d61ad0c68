"""The admin console in Chromium: a staff member signs in with their API key, every main
page renders (screenshots in test-output/screenshots/), the charts are drawn from the demo
data's roll-ups, the queue fits a phone, and the keyboard alone reaches the queue's first
request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from safehold import migrate
from safehold.access import service as access
from safehold.access.rules import SCOPES, Actor
from safehold.analytics import jobs as analytics_jobs
from safehold.client import Client
from safehold.clock import FrozenClock
from safehold.config import Settings
from safehold.db import transaction
from safehold.events import demo
from safehold.notices import service as notices
from safehold.retention import jobs as retention_jobs
from safehold.runtime import Runtime, build_runtime
from tests.browser.conftest import screenshot
from tests.conftest import DEFAULT_POLICY
from tests.integration.requests.support import open_request, person

NOW = datetime(2026, 3, 9, 12, tzinfo=UTC)  # February is final (7-day grace): its reports exist
PAGES = {
    "overview": "/admin",
    "queue": "/admin/requests",
    "people": "/admin/people",
    "retention": "/admin/retention",
    "audit": "/admin/audit",
    "messages": "/admin/messages",
    "policy": "/admin/policy",
    "analytics": "/admin/analytics?month=2026-02",
}


@pytest.fixture
def live_runtime(tmp_path: Path) -> Iterator[Runtime]:
    """The served Safehold, on a frozen clock so the demo month is complete and final."""
    runtime = build_runtime(
        Settings(data_dir=tmp_path, policy=DEFAULT_POLICY), clock=FrozenClock(NOW)
    )
    migrate.upgrade(runtime.engine)
    yield runtime
    runtime.close()


def _key(runtime: Runtime, scopes: list[str], purposes: list[str]) -> str:
    with transaction(runtime.sessions) as session:
        return access.create_key(
            session, name="support-desk", scopes=scopes, purposes=purposes,
            known_purposes=runtime.policy.purpose_ids, clock=runtime.clock,
            actor=Actor("admin", "test"),
        ).token  # fmt: skip


@pytest.fixture
def seeded(live_runtime: Runtime, live_server: str) -> str:
    """Demo viewing for the last 12 days (part of February), its roll-ups, two requests
    (one overdue), policy v1 and a dry retention run. Returns a full-scope staff key."""
    writer = _key(live_runtime, ["events:write", "subjects:write"], ["service_provision"])
    with Client(live_server, writer, now=lambda: NOW) as client:
        summary = demo.generate(client, subjects=50, days=12, now=NOW)
    assert summary.accepted > 0
    while analytics_jobs.run(live_runtime):
        pass
    clock = live_runtime.clock
    assert isinstance(clock, FrozenClock)
    clock.set(NOW - timedelta(days=40))
    open_request(live_runtime, person(live_runtime, "Ada"), "access")
    clock.set(NOW)
    open_request(live_runtime, person(live_runtime, "Bea"), "erasure")
    with transaction(live_runtime.sessions) as session:  # v1, as `safehold serve` publishes
        notices.ensure_first_version(session, source=DEFAULT_POLICY.read_text(), clock=clock)
    retention_jobs.run(live_runtime, dry_run=True)  # a last run for the retention page
    return _key(live_runtime, list(SCOPES), ["*"])


def sign_in(page: Page, base: str, key: str, target: str = "/admin") -> None:
    page.goto(base + target)
    assert "/admin/sign-in" in page.url
    page.get_by_text("Break-glass: sign in with an API key").click()  # the key path, folded
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in with the key").click()
    page.wait_for_url(f"{base}{target}*")


def test_staff_sign_in_every_page_and_the_charts(page: Page, live_server: str, seeded: str) -> None:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    sign_in(page, live_server, seeded)
    for name, path in PAGES.items():
        answer = page.goto(live_server + path)
        assert answer is not None, name
        assert answer.status == 200, name
        page.get_by_role("heading", level=1).wait_for()
        if name == "analytics":
            page.wait_for_function("document.querySelectorAll('figure.chart-box.drawn').length > 0")
        screenshot(page, f"console-{name}")
    sizes = page.eval_on_selector_all(
        "figure.chart-box canvas",
        "cs => cs.map(c => [c.width, c.height, !!window.Chart.getChart(c)])",
    )
    assert len(sizes) >= 5  # active people, logins, devices, OS, browsers, actions
    assert all(w > 0 and h > 0 and drawn for w, h, drawn in sizes), sizes
    assert page.get_by_role("table").count() >= len(sizes)  # each chart's data beside it
    assert not problems, problems  # no CSP violation, no script error
    # The demo's IPTV mix, by name: boxes and sticks lead the device types' own chart.
    page.goto(live_server + PAGES["analytics"])
    types = page.locator('section[aria-labelledby="h-device_types"] table').inner_text()
    assert "Set-top box or streaming stick" in types
    assert "set_top_box" not in page.content()


def test_the_queue_on_a_phone_and_by_keyboard_alone(
    browser: Browser, live_server: str, seeded: str
) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 812})
    phone = context.new_page()
    try:
        sign_in(phone, live_server, seeded, "/admin/requests")
        rows = phone.locator("table.queue tbody tr")
        assert rows.count() == 2
        assert "overdue" in rows.first.inner_text().lower()  # the oldest deadline first, marked
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 375 + 1, width  # the table scrolls inside itself, the page does not
        screenshot(phone, "console-queue-375")
        first = rows.first.get_by_role("link")
        href = first.get_attribute("href")
        phone.evaluate("document.activeElement && document.activeElement.blur()")
        for _ in range(40):
            phone.keyboard.press("Tab")
            if phone.evaluate("document.activeElement.getAttribute('href')") == href:
                break
        else:
            pytest.fail("Tab never reached the queue's first request")
        phone.keyboard.press("Enter")
        phone.wait_for_url(f"{live_server}{href}")
        phone.get_by_role("heading", level=1).wait_for()
        assert "request" in phone.get_by_role("heading", level=1).inner_text()
        screenshot(phone, "console-request-375")
    finally:
        context.close()
